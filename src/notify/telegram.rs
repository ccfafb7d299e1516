//! Telegram: Bot API `sendMessage` (HTML) with an inline keyboard; `editMessageText` on
//! ack/resolve; button callbacks by webhook or long polling.

use serde::{Deserialize, Deserializer, Serialize};

use super::require_text;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["bot_token"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["api_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str =
    "Messages with Acknowledge/Resolve/Open buttons, edited on ack/resolve; link users by Telegram user id.";
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Updates {
    /// `POST /api/integrations/telegram/{channel_id}` receives button presses (needs a public URL).
    Webhook,
    /// IncidentRelay polls `getUpdates` (works without a public URL).
    #[default]
    Polling,
}

fn default_true() -> bool {
    true
}

/// Chat ids are numbers for groups (`-100…`) or `@channelname`; keep them as strings.
fn chat_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(i64),
        S(String),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::N(n) => n.to_string(),
        Id::S(s) => s,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bot token from @BotFather, e.g. 123456:ABC-DEF….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Chat, group or channel id, e.g. -1001234567890.
    #[serde(default, deserialize_with = "chat_id", skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// Bot API base URL (default https://api.telegram.org).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Add Acknowledge / Resolve / Open buttons.
    #[serde(default = "default_true")]
    pub actions_enabled: bool,
    /// How button presses arrive: `polling` (getUpdates, no public URL needed) or `webhook` (<public_base_url>/api/integrations/telegram/<channel id>).
    #[serde(default)]
    pub updates: Updates,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_text(p, "bot_token", &self.bot_token);
        require_text(p, "chat_id", &self.chat_id);
        if let Some(u) = &self.api_url {
            p.url("api_url", u);
        }
    }
}

use serde_json::{Value, json};

use super::text::{self, headline, html_escape, icon, status_line};
use super::{Env, NotifyError, Sent};
use crate::crypto::{Action, Target, button_signature};
use crate::domain::alert::AlertStatus;
use crate::domain::message::Message;

/// Callback data (≤ 64 bytes): `<a|r>:<alert>:<episode>:<signature>`.
pub fn callback_data(secret: &[u8], channel_id: i64, t: Target) -> String {
    format!("{}:{}:{}:{}", t.action.code(), t.alert_id, t.episode, button_signature(secret, channel_id, t))
}

/// Parses callback data back into what it acts on and its signature.
pub fn parse_callback(data: &str) -> Option<(Target, &str)> {
    let mut p = data.splitn(4, ':');
    let action = Action::from_code(p.next()?)?;
    let alert_id = p.next()?.parse().ok()?;
    let episode = p.next()?.parse().ok()?;
    Some((Target { alert_id, episode, action }, p.next()?))
}

/// Telegram's limit on a message's text (after its HTML is parsed).
const MAX_TEXT: usize = 4096;

/// The message text as Telegram HTML, within Telegram's length limit. Cutting the HTML itself
/// could split a tag or an entity and get the whole page refused, so the alert's message is
/// shortened instead (and, for absurd titles, the headline).
pub fn render_text(msg: &Message) -> String {
    for (message_max, title_max) in [(2500, 1024), (1000, 1024), (200, 1024), (0, 512), (0, 100)] {
        let t = render_text_within(msg, message_max, title_max);
        if visible_len(&t) <= MAX_TEXT {
            return t;
        }
    }
    html_escape(&text::clip(&headline(msg), 100))
}

/// How many characters Telegram counts: tags are not text, an entity is one character.
fn visible_len(html: &str) -> usize {
    let (mut n, mut in_tag, mut in_entity) = (0, false, false);
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '&' => {
                in_entity = true;
                n += 1;
            }
            ';' if in_entity => in_entity = false,
            _ if in_entity => {}
            _ => n += 1,
        }
    }
    n
}

fn render_text_within(msg: &Message, message_max: usize, title_max: usize) -> String {
    let head = html_escape(&text::clip(&headline(msg), title_max));
    let mut t = format!("{} <b>{head}</b>\n{}", icon(msg), html_escape(&status_line(msg)));
    if let Some(u) = msg.assignee.as_ref().and_then(|u| u.telegram_user_id.as_ref().map(|id| (id, u))) {
        t.push_str(&format!(
            " (<a href=\"tg://user?id={}\">{}</a>)",
            html_escape(u.0),
            html_escape(u.1.display_name_or_username())
        ));
    }
    if let Some(a) = &msg.alert {
        if !a.message.is_empty() && message_max > 0 {
            t.push_str(&format!("\n\n{}", html_escape(&text::clip(&a.message, message_max))));
        }
        t.push('\n');
        for (k, v) in text::facts(msg) {
            t.push_str(&format!("\n<b>{}</b>: {}", html_escape(&k), html_escape(&v)));
        }
        let l = text::html_labels(msg, 10);
        if !l.is_empty() {
            t.push_str(&format!("\n{l}"));
        }
        if let Some(link) = &a.event_link {
            t.push_str(&format!("\n<a href=\"{}\">Runbook / source</a>", html_escape(link)));
        }
    }
    t
}

/// The inline keyboard, one row: Acknowledge and Resolve (signed callbacks) and Open beside
/// them (Telegram only accepts public https URLs for URL buttons).
pub fn keyboard(cfg: &Config, msg: &Message, secret: &[u8], channel_id: i64, base_url: &str) -> Value {
    let mut row = Vec::new();
    if let Some(a) = msg.alert.as_ref().filter(|_| cfg.actions_enabled && msg.actionable()) {
        let target = |action| Target { alert_id: a.id, episode: a.episode, action };
        if a.status != AlertStatus::Acknowledged {
            row.push(json!({"text": "✅ Acknowledge", "callback_data": callback_data(secret, channel_id, target(Action::Acknowledge))}));
        }
        row.push(
            json!({"text": "Resolve", "callback_data": callback_data(secret, channel_id, target(Action::Resolve))}),
        );
        row.push(
            json!({"text": "Snooze 1 h", "callback_data": callback_data(secret, channel_id, target(Action::Snooze))}),
        );
    }
    if base_url.starts_with("https://") {
        row.push(json!({"text": "Open", "url": msg.links.alert}));
    }
    let rows: Vec<Value> = if row.is_empty() { Vec::new() } else { vec![Value::Array(row)] };
    json!({"inline_keyboard": rows})
}

pub fn render(cfg: &Config, msg: &Message, secret: &[u8], channel_id: i64, base_url: &str) -> Value {
    json!({
        "chat_id": cfg.chat_id,
        "text": render_text(msg),
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
        "reply_markup": keyboard(cfg, msg, secret, channel_id, base_url),
    })
}

pub fn api_base(cfg: &Config) -> String {
    format!(
        "{}/bot{}",
        cfg.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim_end_matches('/'),
        cfg.bot_token.as_deref().unwrap_or("")
    )
}

/// Telegram answers `{"ok": false, "error_code": …, "description": …}` on failure.
fn api_result(r: Result<super::Reply, NotifyError>) -> Result<Value, NotifyError> {
    match r {
        Ok(reply) => Ok(reply.json()),
        Err(NotifyError::Permanent(m)) if m.contains("message is not modified") => Ok(json!({"ok": true})),
        Err(e) => Err(e),
    }
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message, edit: Option<&str>) -> Result<Sent, NotifyError> {
    let mut body = render(cfg, msg, env.secret, env.channel_id, env.base_url);
    let base = api_base(cfg);
    match edit.and_then(|id| id.parse::<i64>().ok()) {
        Some(message_id) => {
            body["message_id"] = json!(message_id);
            api_result(env.http.post_json(&format!("{base}/editMessageText"), &body, &[]))?;
            Ok(Sent { external_id: Some(message_id.to_string()), detail: "message edited".into() })
        }
        None => {
            let v = api_result(env.http.post_json(&format!("{base}/sendMessage"), &body, &[]))?;
            let id = v["result"]["message_id"].as_i64().map(|i| i.to_string());
            Ok(Sent { external_id: id, detail: "sent".into() })
        }
    }
}

/// The `secret_token` IncidentRelay registers with a channel's webhook.
pub fn webhook_secret(secret: &[u8], channel_id: i64) -> String {
    crate::crypto::derived_secret(secret, "telegram", channel_id)
}

/// Registers (webhook mode) or removes (polling mode) the bot's webhook.
pub fn configure_updates(cfg: &Config, env: &Env<'_>) -> Result<(), NotifyError> {
    let base = api_base(cfg);
    match cfg.updates {
        Updates::Webhook => {
            let body = json!({
                "url": format!("{}/api/integrations/telegram/{}", env.base_url, env.channel_id),
                "secret_token": webhook_secret(env.secret, env.channel_id),
                "allowed_updates": ["callback_query"],
            });
            env.http.post_json(&format!("{base}/setWebhook"), &body, &[]).map(|_| ())
        }
        Updates::Polling => env.http.post_json(&format!("{base}/deleteWebhook"), &json!({}), &[]).map(|_| ()),
    }
}

/// Fetches pending updates after `offset` (short poll).
pub fn get_updates(cfg: &Config, env: &Env<'_>, offset: i64) -> Result<Vec<Value>, NotifyError> {
    let body = json!({"offset": offset, "timeout": 0, "allowed_updates": ["callback_query"]});
    let r = env.http.post_json(&format!("{}/getUpdates", api_base(cfg)), &body, &[])?;
    Ok(r.json()["result"].as_array().cloned().unwrap_or_default())
}

pub fn answer_callback(cfg: &Config, env: &Env<'_>, callback_query_id: &str, text: &str) -> Result<(), NotifyError> {
    let body = json!({"callback_query_id": callback_query_id, "text": text::clip(text, 190)});
    env.http.post_json(&format!("{}/answerCallbackQuery", api_base(cfg)), &body, &[]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    fn cfg() -> Config {
        serde_json::from_value(json!({"bot_token": "123:ABC", "chat_id": -100123})).unwrap()
    }

    #[test]
    fn html_is_escaped_and_the_keyboard_is_signed() {
        let p = render(&cfg(), &message(EventKind::Triggered), b"k", 4, "https://oncall.example");
        assert_eq!(p["chat_id"], "-100123");
        assert_eq!(p["parse_mode"], "HTML");
        let t = p["text"].as_str().unwrap();
        assert!(t.starts_with("🔴 <b>[CRITICAL] Disk full on db-1 &lt;sda&gt;</b>"), "{t}");
        assert!(t.contains("95% used &amp; rising"));
        assert!(t.contains("<a href=\"tg://user?id=111\">Alice</a>"));
        let kb = &p["reply_markup"]["inline_keyboard"];
        let data = kb[0][0]["callback_data"].as_str().unwrap();
        assert!(data.len() <= 64);
        let (target, sig) = parse_callback(data).unwrap();
        assert_eq!(target, Target { alert_id: 42, episode: 0, action: Action::Acknowledge });
        assert!(crate::crypto::verify_button(b"k", 4, target, sig));
        let texts: Vec<&str> = kb[0].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect();
        assert_eq!(texts, ["✅ Acknowledge", "Resolve", "Snooze 1 h", "Open"], "one row, Open beside the actions");
        assert_eq!(kb[0][3]["url"], "https://oncall.example/alerts/42");
        let (snooze, _) = parse_callback(kb[0][2]["callback_data"].as_str().unwrap()).unwrap();
        assert_eq!(snooze.action, Action::Snooze);
        let local = render(&cfg(), &message(EventKind::Triggered), b"k", 4, "http://127.0.0.1:8080");
        assert_eq!(
            local["reply_markup"]["inline_keyboard"][0].as_array().unwrap().len(),
            3,
            "no Open button for non-https URLs"
        );
        let mut long = message(EventKind::Triggered);
        if let Some(a) = long.alert.as_mut() {
            a.title = "<&>".repeat(300);
            a.message = "&".repeat(16_000);
        }
        let t = render_text(&long);
        assert!(visible_len(&t) <= MAX_TEXT, "{}", visible_len(&t));
        assert!(
            t.contains("</b>") && !t.contains("&am…") && t.matches('<').count() == t.matches('>').count(),
            "tags and entities stay whole"
        );
        let resolved = render(&cfg(), &message(EventKind::Resolved), b"k", 4, "http://127.0.0.1:8080");
        assert_eq!(resolved["reply_markup"]["inline_keyboard"], json!([]));
    }
}
