//! Mattermost: incoming-webhook mode, or Bot API mode with Acknowledge/Resolve buttons.

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url", "bot_token", "callback_secret"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["webhook_url", "api_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Webhook mode posts through an incoming webhook. Bot mode posts with Acknowledge/Resolve buttons and edits the post \
     on ack/resolve; people acting from Mattermost need their Mattermost user id in their profile.";

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
    /// `webhook` (incoming webhook) or `bot_api` (posts with Acknowledge/Resolve buttons, edited on ack/resolve).
    #[serde(default)]
    pub mode: Mode,
    /// Incoming webhook URL (webhook mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Server base URL for bot mode, e.g. `https://mattermost.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Bot access token (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Channel id to post to (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// Key for signing button contexts; the installation secret is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_secret: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.mode {
            Mode::Webhook => require_url(p, "webhook_url", &self.webhook_url),
            Mode::BotApi => {
                require_url(p, "api_url", &self.api_url);
                require_text(p, "bot_token", &self.bot_token);
                require_text(p, "channel_id", &self.channel_id);
            }
        }
    }
}

use serde_json::{Value, json};

use super::text::{self, color_hex, headline, icon, status_line};
use super::{Env, NotifyError, Sent};
use crate::crypto::{Action, Target, button_signature};
use crate::domain::message::Message;

/// Alert text as inert Mattermost markdown: it reads the same, but nothing in it is live — no
/// `@channel`/`@all`/`@user` mention (a zero-width space follows every `@`; Mattermost's server
/// finds mentions in the raw text, so escaping alone would not do), no image, link, autolink or
/// emoji (markdown punctuation and `:` are backslash-escaped, `www.` too).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '<' | '>' | '!' | '#' | '|' | ':' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out.replace("www.", "www\\.").replace("WWW.", "WWW\\.")
}

/// Text inside a code span (`` `k=v` ``): no escapes apply there, so backticks are replaced
/// and mentions broken.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace('@', "@\u{200B}"))
}

/// The integration URL Mattermost posts button clicks to.
pub fn actions_url(base_url: &str) -> String {
    format!("{base_url}/api/integrations/mattermost/actions")
}

fn body_text(msg: &Message) -> String {
    let mut t = String::new();
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        t.push_str(&escape(&text::clip(&a.message, 2000)));
        t.push_str("\n\n");
    }
    let labels = text::shown_labels(msg, 12);
    if !labels.is_empty() {
        t.push_str(&labels.iter().map(|(k, v)| code(&format!("{k}={v}"))).collect::<Vec<_>>().join(" "));
        t.push('\n');
    }
    if let Some(l) = msg.alert.as_ref().and_then(|a| a.event_link.as_ref()) {
        t.push_str(&format!("[Runbook / source]({l}) · "));
    }
    for (label, url) in msg.alert.as_ref().map(|a| a.more_links()).unwrap_or_default() {
        let url = url.replace('(', "%28").replace(')', "%29").replace(' ', "%20");
        t.push_str(&format!("[{}]({url}) · ", escape(&label)));
    }
    t.push_str(&format!("[Open in IncidentRelay]({})", msg.links.alert));
    t
}

/// The attachment; `buttons` adds Acknowledge/Resolve actions (bot mode).
pub fn attachment(msg: &Message, env_channel: i64, base_url: &str, secret: &[u8], buttons: bool) -> Value {
    let fields: Vec<Value> =
        text::facts(msg).into_iter().map(|(k, v)| json!({"short": true, "title": k, "value": escape(&v)})).collect();
    let mut att = json!({
        "fallback": headline(msg),
        "color": format!("#{}", color_hex(msg)),
        "title": headline(msg),
        "title_link": msg.links.alert,
        "text": body_text(msg),
        "fields": fields,
        "footer": status_line(msg),
    });
    if buttons && let Some(a) = msg.alert.as_ref().filter(|_| msg.actionable()) {
        let button = |action: Action, name: &str, style: &str| {
            let t = Target { alert_id: a.id, episode: a.episode, action };
            json!({"id": action.verb(), "name": name, "type": "button", "style": style, "integration": {
                "url": actions_url(base_url),
                "context": {"channel_id": env_channel, "alert_id": a.id, "episode": a.episode, "action": action.code(),
                            "sig": button_signature(secret, env_channel, t)}
            }})
        };
        let mut actions = Vec::new();
        if a.status != crate::domain::alert::AlertStatus::Acknowledged {
            actions.push(button(Action::Acknowledge, "Acknowledge", "primary"));
        }
        actions.push(button(Action::Resolve, "Resolve", "success"));
        actions.push(button(Action::Snooze, "Snooze 1 h", "default"));
        att["actions"] = Value::Array(actions);
    }
    att
}

/// The incoming-webhook payload.
pub fn render_webhook(msg: &Message) -> Value {
    let mut att = attachment(msg, 0, "", &[], false);
    if msg.actionable() {
        let mut t = att["text"].as_str().unwrap_or("").to_string();
        if let (Some(ack), Some(res)) = (&msg.links.acknowledge, &msg.links.resolve) {
            t.push_str(&format!(" · [Acknowledge]({ack}) · [Resolve]({res})"));
        }
        att["text"] = Value::String(t);
    }
    json!({"text": format!("{} **{}**", icon(msg), escape(&headline(msg))), "attachments": [att]})
}

/// The Bot API post (`POST /api/v4/posts`) or patch body.
pub fn render_post(cfg: &Config, msg: &Message, env_channel: i64, base_url: &str, secret: &[u8]) -> Value {
    json!({
        "channel_id": cfg.channel_id,
        "message": format!("{} **{}**", icon(msg), escape(&headline(msg))),
        "props": {"attachments": [attachment(msg, env_channel, base_url, secret, true)]}
    })
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
            let api = cfg.api_url.as_deref().unwrap_or("").trim_end_matches('/');
            let auth = format!("Bearer {}", cfg.bot_token.as_deref().unwrap_or(""));
            let secret = cfg.callback_secret.as_deref().map(str::as_bytes).unwrap_or(env.secret);
            let body = render_post(cfg, msg, env.channel_id, env.base_url, secret);
            match edit {
                Some(post_id) => {
                    let patch = json!({"message": body["message"], "props": body["props"]});
                    env.http.request(
                        "PUT",
                        &format!("{api}/api/v4/posts/{post_id}/patch"),
                        "application/json",
                        patch.to_string().into_bytes(),
                        &[("Authorization", &auth)],
                    )?;
                    Ok(Sent { external_id: Some(post_id.to_string()), detail: "post updated".into() })
                }
                None => {
                    let r = env.http.post_json(&format!("{api}/api/v4/posts"), &body, &[("Authorization", &auth)])?;
                    let id = r.json()["id"].as_str().map(str::to_string);
                    Ok(Sent { external_id: id, detail: "posted".into() })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn webhook_payload() {
        let p = render_webhook(&message(EventKind::Triggered));
        assert_eq!(p["text"], "🔴 **\\[CRITICAL\\] Disk full on db-1 \\<sda\\>**");
        let att = &p["attachments"][0];
        assert_eq!(att["color"], "#D32F2F");
        assert_eq!(att["title_link"], "https://oncall.example/alerts/42");
        assert!(att["text"].as_str().unwrap().contains("[Acknowledge](https://oncall.example/a/42.a.1.sig)"));
        assert_eq!(att["fields"][0], json!({"short": true, "title": "Team", "value": "Infrastructure"}));
        assert!(att.get("actions").is_none(), "webhook mode has links, not buttons");
    }

    #[test]
    fn bot_post_has_signed_buttons_that_follow_the_state() {
        let cfg: Config = serde_json::from_value(
            json!({"mode": "bot_api", "api_url": "https://mm", "bot_token": "t", "channel_id": "c1"}),
        )
        .unwrap();
        let secret = b"k";
        let p = render_post(&cfg, &message(EventKind::Triggered), 9, "https://oncall.example", secret);
        assert_eq!(p["channel_id"], "c1");
        let actions = p["props"]["attachments"][0]["actions"].as_array().unwrap();
        let ids: Vec<&str> = actions.iter().filter_map(|a| a["id"].as_str()).collect();
        assert_eq!(ids, ["acknowledge", "resolve", "snooze"]);
        assert_eq!(actions[2]["integration"]["context"]["action"], "s");
        assert_eq!(actions[0]["integration"]["url"], "https://oncall.example/api/integrations/mattermost/actions");
        let ctx = &actions[0]["integration"]["context"];
        assert_eq!((ctx["alert_id"].as_i64(), ctx["action"].as_str()), (Some(42), Some("a")));
        let t = Target { alert_id: 42, episode: 0, action: Action::Acknowledge };
        assert_eq!(ctx["sig"], button_signature(secret, 9, t));
        let acked = render_post(&cfg, &message(EventKind::Acknowledged), 9, "https://oncall.example", secret);
        let actions = acked["props"]["attachments"][0]["actions"].as_array().unwrap();
        let ids: Vec<&str> = actions.iter().filter_map(|a| a["id"].as_str()).collect();
        assert_eq!(ids, ["resolve", "snooze"], "acknowledged: Resolve and Snooze are left");
        let resolved = render_post(&cfg, &message(EventKind::Resolved), 9, "https://oncall.example", secret);
        let att = &resolved["props"]["attachments"][0];
        assert!(att.get("actions").is_none(), "resolved: no buttons");
        assert_eq!(att["color"], "#2E7D32", "resolved turns green");
    }
}
