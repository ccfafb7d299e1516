//! ntfy: push notifications to phones with no proprietary app, through ntfy.sh or the team's own
//! ntfy server. Messages use ntfy's JSON publish format: a title, the text, a priority by
//! severity, tags, a click-through to the alert, and Acknowledge / Resolve action buttons that
//! POST the signed one-click links.

use serde::{Deserialize, Serialize};

use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["access_token"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["server_url", "topic"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Push to phones through ntfy: subscribe to the topic in the ntfy app (Android, iOS) on \
     ntfy.sh or your own server. Notifications carry Acknowledge and Resolve buttons. A private topic needs an \
     access token (`tk_…`).";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The ntfy server, e.g. https://ntfy.sh or https://ntfy.example.com.
    #[serde(default = "default_server")]
    pub server_url: String,
    /// The topic the app subscribes to: anyone who knows a public topic can read it, so pick one
    /// that is hard to guess, or protect it on your server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Access token (`tk_…`) for a protected topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

fn default_server() -> String {
    "https://ntfy.sh".into()
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        p.url("server_url", &self.server_url);
        super::require_text(p, "topic", &self.topic);
        if let Some(t) = &self.topic {
            let ok = t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            p.check(ok, "topic", "must be 1-64 letters, digits, '-' or '_'");
        }
    }
}

use serde_json::{Value, json};

use super::text::{self, headline, status_line};
use super::{Env, NotifyError, Sent};
use crate::domain::alert::Severity;
use crate::domain::message::{EventKind, Message};

/// ntfy's priority (1 … 5): pages by severity, updates and recoveries quietly.
fn priority(msg: &Message) -> u8 {
    match (msg.kind, msg.alert.as_ref().map(|a| a.severity)) {
        (EventKind::Acknowledged | EventKind::Resolved | EventKind::Test, _) | (_, None) => 2,
        (_, Some(Severity::Critical)) => 5,
        (_, Some(Severity::High)) => 4,
        (_, Some(Severity::Warning)) => 3,
        (_, Some(Severity::Info)) => 2,
    }
}

/// Tags ntfy shows as emoji, then the severity as a word.
fn tags(msg: &Message) -> Vec<String> {
    let emoji = match (msg.kind, msg.alert.as_ref().map(|a| a.severity)) {
        (EventKind::Resolved, _) => "white_check_mark",
        (EventKind::Acknowledged, _) => "eyes",
        (EventKind::Test, _) | (_, None) => "test_tube",
        (_, Some(Severity::Critical)) => "rotating_light",
        (_, Some(Severity::High)) => "warning",
        (_, Some(Severity::Warning)) => "large_orange_diamond",
        (_, Some(Severity::Info)) => "information_source",
    };
    let mut out = vec![emoji.to_string()];
    if let Some(a) = &msg.alert {
        out.push(a.severity.as_str().to_string());
    }
    out
}

pub fn render(topic: &str, msg: &Message) -> Value {
    let mut body = status_line(msg);
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        body.push_str("\n\n");
        body.push_str(&text::clip(&a.message, 3000));
    }
    let mut actions = Vec::new();
    if msg.actionable()
        && let (Some(ack), Some(res)) = (&msg.links.acknowledge, &msg.links.resolve)
    {
        if msg.kind != EventKind::Acknowledged {
            actions
                .push(json!({"action": "http", "label": "Acknowledge", "url": ack, "method": "POST", "clear": true}));
        }
        actions.push(json!({"action": "http", "label": "Resolve", "url": res, "method": "POST", "clear": true}));
    }
    json!({
        "topic": topic,
        "title": text::clip(&headline(msg), 250),
        "message": body,
        "priority": priority(msg),
        "tags": tags(msg),
        "click": msg.links.alert,
        "actions": actions,
    })
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let topic = cfg.topic.as_deref().ok_or_else(|| NotifyError::Permanent("topic is not set".into()))?;
    let auth = cfg.access_token.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let url = format!("{}/", cfg.server_url.trim_end_matches('/'));
    let r = env.http.post_json(&url, &render(topic, msg), &headers)?;
    Ok(Sent { external_id: r.json()["id"].as_str().map(str::to_string), detail: format!("published to {topic}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::fixtures::message;

    #[test]
    fn pages_are_urgent_with_action_buttons_and_updates_are_quiet() {
        let p = render("ops-7f3k", &message(EventKind::Triggered));
        assert_eq!(p["topic"], "ops-7f3k");
        assert_eq!(p["title"], "[CRITICAL] Disk full on db-1 <sda>");
        assert_eq!(
            (p["priority"].as_u64(), p["tags"][0].as_str(), p["tags"][1].as_str()),
            (Some(5), Some("rotating_light"), Some("critical"))
        );
        assert_eq!(p["click"], "https://oncall.example/alerts/42");
        let labels: Vec<&str> = p["actions"].as_array().unwrap().iter().filter_map(|a| a["label"].as_str()).collect();
        assert_eq!(labels, ["Acknowledge", "Resolve"]);
        assert_eq!(
            (p["actions"][0]["method"].as_str(), p["actions"][0]["url"].as_str()),
            (Some("POST"), Some("https://oncall.example/a/42.a.1.sig"))
        );
        let done = render("t", &message(EventKind::Resolved));
        assert_eq!((done["priority"].as_u64(), done["tags"][0].as_str()), (Some(2), Some("white_check_mark")));
        assert_eq!(done["actions"], json!([]), "nothing left to do");
    }

    #[test]
    fn topics_are_checked() {
        let cfg = |t: &str| Config { server_url: default_server(), topic: Some(t.into()), access_token: None };
        let mut p = Problems::new();
        cfg("ops-7f3k_a").validate(&mut p);
        assert!(p.finish().is_ok());
        let mut p = Problems::new();
        cfg("ops/../x").validate(&mut p);
        assert!(p.finish().is_err());
    }
}
