//! Gotify: push notifications through a self-hosted Gotify server to its Android app. A message
//! has a title, the text in Markdown with Acknowledge / Resolve links, a priority by severity,
//! and a click-through to the alert.

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["app_token"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["server_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Push to phones through your Gotify server: create an application in Gotify and paste its \
     token here; the Gotify app shows the notifications, with Acknowledge and Resolve links.";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Gotify server, e.g. https://gotify.example.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// The token of a Gotify application (Apps → Create application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "server_url", &self.server_url);
        require_text(p, "app_token", &self.app_token);
    }
}

use serde_json::{Value, json};

use super::text::{self, headline, status_line};
use super::{Env, NotifyError, Sent};
use crate::domain::alert::Severity;
use crate::domain::message::{EventKind, Message};

/// Gotify's priority (0 … 10; the app alerts loudly from 8): pages by severity, updates quietly.
fn priority(msg: &Message) -> u8 {
    match (msg.kind, msg.alert.as_ref().map(|a| a.severity)) {
        (EventKind::Acknowledged | EventKind::Resolved | EventKind::Test, _) | (_, None) => 2,
        (_, Some(Severity::Critical)) => 10,
        (_, Some(Severity::High)) => 8,
        (_, Some(Severity::Warning)) => 5,
        (_, Some(Severity::Info)) => 3,
    }
}

/// Alert text as inert Markdown (no links, images or emphasis of its own).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn render(msg: &Message) -> Value {
    let mut body = escape(&status_line(msg));
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        body.push_str("\n\n");
        body.push_str(&escape(&text::clip(&a.message, 3000)));
    }
    if msg.actionable()
        && let (Some(ack), Some(res)) = (&msg.links.acknowledge, &msg.links.resolve)
    {
        if msg.kind == EventKind::Acknowledged {
            body.push_str(&format!("\n\n[Resolve]({res})"));
        } else {
            body.push_str(&format!("\n\n[Acknowledge]({ack}) · [Resolve]({res})"));
        }
    }
    json!({
        "title": text::clip(&headline(msg), 250),
        "message": body,
        "priority": priority(msg),
        "extras": {
            "client::display": {"contentType": "text/markdown"},
            "client::notification": {"click": {"url": msg.links.alert}},
        },
    })
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let server = cfg.server_url.as_deref().ok_or_else(|| NotifyError::Permanent("server_url is not set".into()))?;
    let token = cfg.app_token.as_deref().ok_or_else(|| NotifyError::Permanent("app_token is not set".into()))?;
    let url = format!("{}/message", server.trim_end_matches('/'));
    let r = env.http.post_json(&url, &render(msg), &[("X-Gotify-Key", token)])?;
    let id = r.json()["id"].as_i64().map(|i| i.to_string());
    Ok(Sent { external_id: id, detail: "posted".into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::fixtures::message;

    #[test]
    fn markdown_with_links_priority_by_severity_and_a_click_url() {
        let p = render(&message(EventKind::Triggered));
        assert_eq!(p["title"], "[CRITICAL] Disk full on db-1 <sda>");
        assert_eq!(p["priority"], 10);
        assert_eq!(p["extras"]["client::notification"]["click"]["url"], "https://oncall.example/alerts/42");
        let m = p["message"].as_str().unwrap();
        assert!(m.contains("[Acknowledge](https://oncall.example/a/42.a.1.sig)"), "{m}");
        assert!(m.contains("95% used & rising"), "the alert's text: {m}");
        assert_eq!(render(&message(EventKind::Resolved))["priority"], 2);
        assert_eq!(escape("[x](y)"), "\\[x\\]\\(y\\)");
    }
}
