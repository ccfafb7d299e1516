//! Microsoft Teams: Workflows (Power Automate) webhook with an Adaptive Card, or the legacy
//! Office 365 connector MessageCard.

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["webhook_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "An Adaptive Card for Workflows webhooks, or a MessageCard for legacy Office 365 connectors.";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    AdaptiveCard,
    MessageCard,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Workflows (Power Automate) webhook URL, or a legacy Office 365 connector URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `adaptive_card` (Workflows) or `message_card` (legacy connector).
    #[serde(default)]
    pub format: Format,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
    }
}

use serde_json::{Value, json};

use super::text::{self, color_hex, headline, status_line};
use super::{Env, NotifyError, Sent};
use crate::domain::alert::Severity;
use crate::domain::message::Message;

fn actions(msg: &Message) -> Vec<(&'static str, String)> {
    let mut a = Vec::new();
    if msg.actionable() {
        if msg.alert.as_ref().is_some_and(|x| x.status != crate::domain::alert::AlertStatus::Acknowledged)
            && let Some(l) = &msg.links.acknowledge
        {
            a.push(("Acknowledge", l.clone()));
        }
        if let Some(l) = &msg.links.resolve {
            a.push(("Resolve", l.clone()));
        }
    }
    a.push(("Open in IncidentRelay", msg.links.alert.clone()));
    a
}

/// Workflows (Power Automate) webhook: a message with an Adaptive Card.
pub fn render_adaptive(msg: &Message) -> Value {
    let style = match msg.alert.as_ref().map(|a| (a.status, a.severity)) {
        Some((crate::domain::alert::AlertStatus::Resolved, _)) => "good",
        Some((_, Severity::Critical | Severity::High)) => "attention",
        Some((_, Severity::Warning)) => "warning",
        _ => "accent",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": headline(msg), "weight": "Bolder", "size": "Medium", "wrap": true, "color": style}),
        json!({"type": "TextBlock", "text": status_line(msg), "isSubtle": true, "spacing": "None", "wrap": true}),
    ];
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        body.push(json!({"type": "TextBlock", "text": text::clip(&a.message, 3000), "wrap": true}));
    }
    let facts: Vec<Value> = text::facts(msg).into_iter().map(|(k, v)| json!({"title": k, "value": v})).collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    let acts: Vec<Value> =
        actions(msg).into_iter().map(|(t, u)| json!({"type": "Action.OpenUrl", "title": t, "url": u})).collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body, "actions": acts}
        }]
    })
}

/// Legacy Office 365 connector MessageCard.
pub fn render_message_card(msg: &Message) -> Value {
    let facts: Vec<Value> = text::facts(msg).into_iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    let acts: Vec<Value> = actions(msg)
        .into_iter()
        .map(|(t, u)| json!({"@type": "OpenUri", "name": t, "targets": [{"os": "default", "uri": u}]}))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": color_hex(msg),
        "summary": headline(msg),
        "title": headline(msg),
        "text": msg.alert.as_ref().map(|a| text::clip(&a.message, 3000)).unwrap_or_default(),
        "sections": [{"activityTitle": status_line(msg), "facts": facts, "markdown": true}],
        "potentialAction": acts,
    })
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let url = cfg.webhook_url.as_deref().ok_or_else(|| NotifyError::Permanent("webhook_url is not set".into()))?;
    let body = match cfg.format {
        Format::AdaptiveCard => render_adaptive(msg),
        Format::MessageCard => render_message_card(msg),
    };
    env.http.post_json(url, &body, &[])?;
    Ok(Sent::ok("posted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn adaptive_card_and_message_card() {
        let a = render_adaptive(&message(EventKind::Triggered));
        let card = &a["attachments"][0];
        assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "[CRITICAL] Disk full on db-1 <sda>");
        assert_eq!(
            card["content"]["actions"][0],
            json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": "https://oncall.example/a/42.a.1.sig"})
        );
        let m = render_message_card(&message(EventKind::Acknowledged));
        assert_eq!(m["@type"], "MessageCard");
        assert_eq!(m["themeColor"], "607D8B");
        assert_eq!(m["potentialAction"][0]["name"], "Resolve", "acknowledged: no Acknowledge action");
    }
}
