//! Slack: incoming webhook (Block Kit), or Bot mode (`chat.postMessage` with buttons,
//! `chat.update` on ack/resolve, signed interactivity callbacks).

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url", "bot_token", "signing_secret"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["webhook_url", "api_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Webhook mode posts Block Kit messages. Bot mode adds buttons and updates the message; set the Slack app's \
     interactivity request URL to <public_base_url>/api/integrations/slack/actions and link users by Slack user id.";
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Webhook,
    BotApi,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `webhook` (incoming webhook, Block Kit) or `bot_api` (chat.postMessage with buttons, chat.update on ack/resolve).
    #[serde(default)]
    pub mode: Mode,
    /// Incoming webhook URL, https://hooks.slack.com/services/… (webhook mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Bot token `xoxb-…` (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Channel id, e.g. C0123ABCD (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// The Slack app's signing secret: verifies button clicks at /api/integrations/slack/actions (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// Slack API base URL (default https://slack.com/api; for tests and proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.mode {
            Mode::Webhook => require_url(p, "webhook_url", &self.webhook_url),
            Mode::BotApi => {
                require_text(p, "bot_token", &self.bot_token);
                require_text(p, "channel_id", &self.channel_id);
                require_text(p, "signing_secret", &self.signing_secret);
                if let Some(u) = &self.api_url {
                    p.url("api_url", u);
                }
            }
        }
    }
}

use serde_json::{Value, json};

use super::text::{self, headline, icon, status_line};
use super::{Env, NotifyError, Sent};
use crate::crypto::{Action, Target, button_signature};
use crate::domain::alert::AlertStatus;
use crate::domain::message::Message;

/// Slack mrkdwn escaping (`&`, `<`, `>`).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The button value: `<channel>.<alert>.<episode>.<a|r>.<signature>`.
pub fn button_value(secret: &[u8], channel_id: i64, t: Target) -> String {
    let sig = button_signature(secret, channel_id, t);
    format!("{channel_id}.{}.{}.{}.{sig}", t.alert_id, t.episode, t.action.code())
}

/// Parses a button value back into its channel, what it acts on, and its signature.
pub fn parse_button_value(v: &str) -> Option<(i64, Target, &str)> {
    let mut p = v.splitn(5, '.');
    let channel = p.next()?.parse().ok()?;
    let alert_id = p.next()?.parse().ok()?;
    let episode = p.next()?.parse().ok()?;
    let action = Action::from_code(p.next()?)?;
    Some((channel, Target { alert_id, episode, action }, p.next()?))
}

/// Block Kit blocks. `interactive` (bot mode) adds signed buttons; otherwise buttons link to the
/// one-click action pages.
pub fn blocks(msg: &Message, interactive: Option<(&[u8], i64)>) -> Vec<Value> {
    let mention =
        msg.assignee.as_ref().and_then(|u| u.slack_user_id.as_ref()).map(|id| format!(" <@{id}>")).unwrap_or_default();
    let mut out = vec![json!({"type": "section", "text": {"type": "mrkdwn",
        "text": format!("{} *<{}|{}>*\n{}{mention}", icon(msg), msg.links.alert, escape(&headline(msg)), escape(&status_line(msg)))}})];
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(&text::clip(&a.message, 2800))}}));
    }
    let fields: Vec<Value> = text::facts(msg)
        .into_iter()
        .take(10)
        .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{}", escape(&v))}))
        .collect();
    out.push(json!({"type": "section", "fields": fields}));
    let labels = text::shown_labels(msg, 10);
    if !labels.is_empty() {
        let t = labels.iter().map(|(k, v)| format!("`{}={}`", escape(k), escape(v))).collect::<Vec<_>>().join(" ");
        out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": t}]}));
    }
    let more = msg.alert.as_ref().map(|a| a.more_links()).unwrap_or_default();
    if !more.is_empty() {
        // Slack's link syntax cannot quote `|`, `<` or `>` inside the address.
        let t = more
            .iter()
            .filter(|(_, url)| !url.contains(['|', '<', '>']))
            .map(|(label, url)| format!("<{url}|{}>", escape(label)))
            .collect::<Vec<_>>()
            .join(" · ");
        out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": t}]}));
    }
    let mut elements = Vec::new();
    if let Some(a) = msg.alert.as_ref().filter(|_| msg.actionable()) {
        let acked = a.status == AlertStatus::Acknowledged;
        match interactive {
            Some((secret, channel)) => {
                let target = |action| Target { alert_id: a.id, episode: a.episode, action };
                if !acked {
                    elements.push(json!({"type": "button", "style": "primary", "action_id": "incidentrelay_acknowledge",
                        "text": {"type": "plain_text", "text": "Acknowledge"}, "value": button_value(secret, channel, target(Action::Acknowledge))}));
                }
                elements.push(json!({"type": "button", "action_id": "incidentrelay_resolve",
                    "text": {"type": "plain_text", "text": "Resolve"}, "value": button_value(secret, channel, target(Action::Resolve))}));
                elements.push(json!({"type": "button", "action_id": "incidentrelay_snooze",
                    "text": {"type": "plain_text", "text": "Snooze 1 h"}, "value": button_value(secret, channel, target(Action::Snooze))}));
            }
            None => {
                if let (false, Some(l)) = (acked, &msg.links.acknowledge) {
                    elements.push(json!({"type": "button", "style": "primary", "text": {"type": "plain_text", "text": "Acknowledge"}, "url": l}));
                }
                if let Some(l) = &msg.links.resolve {
                    elements
                        .push(json!({"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "url": l}));
                }
            }
        }
    }
    elements.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": msg.links.alert}));
    if let Some(l) = msg.alert.as_ref().and_then(|a| a.event_link.as_ref()) {
        elements.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": l}));
    }
    out.push(json!({"type": "actions", "elements": elements}));
    out
}

pub fn render_webhook(msg: &Message) -> Value {
    json!({"text": escape(&headline(msg)), "blocks": blocks(msg, None), "unfurl_links": false, "unfurl_media": false})
}

pub fn render_bot(cfg: &Config, msg: &Message, secret: &[u8], channel: i64) -> Value {
    json!({"channel": cfg.channel_id, "text": escape(&headline(msg)), "blocks": blocks(msg, Some((secret, channel))),
           "unfurl_links": false, "unfurl_media": false})
}

/// Slack's Web API answers 200 with `{"ok": false, "error": …}` on failure.
fn api_result(r: super::Reply) -> Result<Value, NotifyError> {
    let v = r.json();
    if v["ok"].as_bool() == Some(true) {
        return Ok(v);
    }
    let err = v["error"].as_str().unwrap_or("unknown error").to_string();
    match err.as_str() {
        "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            Err(NotifyError::retry(format!("slack: {err}")))
        }
        _ => Err(NotifyError::Permanent(format!("slack: {err}"))),
    }
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message, edit: Option<&str>) -> Result<Sent, NotifyError> {
    match cfg.mode {
        Mode::Webhook => {
            let url =
                cfg.webhook_url.as_deref().ok_or_else(|| NotifyError::Permanent("webhook_url is not set".into()))?;
            env.http.post_json(url, &render_webhook(msg), &[])?;
            Ok(Sent::ok("posted to the incoming webhook"))
        }
        Mode::BotApi => {
            let api = cfg.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
            let auth = format!("Bearer {}", cfg.bot_token.as_deref().unwrap_or(""));
            let mut body = render_bot(cfg, msg, env.secret, env.channel_id);
            let headers = [("Authorization", auth.as_str())];
            match edit.and_then(|e| e.split_once(':')) {
                Some((channel, ts)) => {
                    body["channel"] = json!(channel);
                    body["ts"] = json!(ts);
                    api_result(env.http.post_json(&format!("{api}/chat.update"), &body, &headers)?)?;
                    Ok(Sent { external_id: edit.map(str::to_string), detail: "message updated".into() })
                }
                None => {
                    let v = api_result(env.http.post_json(&format!("{api}/chat.postMessage"), &body, &headers)?)?;
                    let id = match (v["channel"].as_str(), v["ts"].as_str()) {
                        (Some(c), Some(t)) => Some(format!("{c}:{t}")),
                        _ => None,
                    };
                    Ok(Sent { external_id: id, detail: "posted".into() })
                }
            }
        }
    }
}

/// Verifies `X-Slack-Signature` (`v0=` hex HMAC-SHA256 of `v0:<timestamp>:<body>`) within a
/// 5-minute window.
pub fn verify_signature(signing_secret: &str, timestamp: &str, signature: &str, body: &[u8], now_secs: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (now_secs - ts).abs() > 300 {
        return false;
    }
    let Some(hex_sig) = signature.strip_prefix("v0=") else { return false };
    let mut base = format!("v0:{timestamp}:").into_bytes();
    base.extend_from_slice(body);
    let expected = crate::crypto::hex(&crate::crypto::hmac_sha256(signing_secret.as_bytes(), &base));
    crate::crypto::ct_eq(expected.as_bytes(), hex_sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn webhook_blocks_link_to_action_pages() {
        let p = render_webhook(&message(EventKind::Triggered));
        assert_eq!(p["text"], "[CRITICAL] Disk full on db-1 &lt;sda&gt;", "escaped like the blocks");
        let first = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            first.contains("*<https://oncall.example/alerts/42|[CRITICAL] Disk full on db-1 &lt;sda&gt;>*"),
            "{first}"
        );
        assert!(first.ends_with("<@U111>"), "mentions the assignee: {first}");
        let actions = p["blocks"].as_array().unwrap().last().unwrap();
        assert_eq!(actions["elements"][0]["url"], "https://oncall.example/a/42.a.1.sig");
    }

    #[test]
    fn bot_buttons_are_signed_and_disappear_when_resolved() {
        let cfg: Config = serde_json::from_value(
            json!({"mode": "bot_api", "bot_token": "x", "channel_id": "C1", "signing_secret": "s"}),
        )
        .unwrap();
        let p = render_bot(&cfg, &message(EventKind::Triggered), b"k", 3);
        let actions = p["blocks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(actions["elements"][0]["action_id"], "incidentrelay_acknowledge");
        let t = Target { alert_id: 42, episode: 0, action: Action::Acknowledge };
        assert_eq!(actions["elements"][0]["value"], button_value(b"k", 3, t));
        assert_eq!(parse_button_value(&button_value(b"k", 3, t)).map(|(c, x, _)| (c, x)), Some((3, t)));
        let r = render_bot(&cfg, &message(EventKind::Resolved), b"k", 3);
        let actions = r["blocks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(actions["elements"][0]["text"]["text"], "Open");
    }

    #[test]
    fn slack_signatures() {
        let body = b"payload=%7B%7D";
        let sig =
            format!("v0={}", crate::crypto::hex(&crate::crypto::hmac_sha256(b"secret", b"v0:1000:payload=%7B%7D")));
        assert!(verify_signature("secret", "1000", &sig, body, 1100));
        assert!(!verify_signature("secret", "1000", &sig, body, 1301), "stale");
        assert!(!verify_signature("other", "1000", &sig, body, 1100));
        assert!(!verify_signature("secret", "1000", "v0=00", body, 1100));
    }
}
