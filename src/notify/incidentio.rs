//! incident.io: alert events API (`POST /v2/alert_events/http/{alert_source_config_id}`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::require_text;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["api_token"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["api_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "incident.io alert events (HTTP alert source): firing and resolved, deduplicated per alert.";
pub const DEFAULT_API_URL: &str = "https://api.incident.io";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// incident.io API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// The HTTP alert source's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_source_config_id: Option<String>,
    /// Merged into every event's `metadata`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// API base URL (default https://api.incident.io).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_text(p, "api_token", &self.api_token);
        require_text(p, "alert_source_config_id", &self.alert_source_config_id);
        if let Some(u) = &self.api_url {
            p.url("api_url", u);
        }
    }
}

use serde_json::json;

use super::{Env, NotifyError, Sent};
use crate::domain::message::{EventKind, Message};

pub fn render(cfg: &Config, msg: &Message) -> Option<serde_json::Value> {
    let status = match msg.kind {
        EventKind::Resolved => "resolved",
        // incident.io alerts have no acknowledged state; nothing to send.
        EventKind::Acknowledged | EventKind::Undelivered => return None,
        _ => "firing",
    };
    let mut metadata = cfg.metadata.clone();
    metadata.insert("team".into(), json!(msg.team.slug));
    if let Some(u) = &msg.assignee {
        metadata.insert("assignee".into(), json!(u.username));
    }
    let (title, description, key) = match &msg.alert {
        Some(a) => {
            metadata.insert("severity".into(), json!(a.severity));
            metadata.insert("source".into(), json!(a.source));
            metadata.insert("labels".into(), json!(a.labels));
            metadata.insert("incidentrelay_alert_id".into(), json!(a.id));
            (a.title.clone(), a.message.clone(), format!("incidentrelay-{}", a.id))
        }
        None => (
            super::text::headline(msg),
            "A test alert from IncidentRelay".into(),
            format!("incidentrelay-test-{}", msg.delivery_id),
        ),
    };
    Some(json!({
        "title": title,
        "description": description,
        "deduplication_key": key,
        "status": status,
        "source_url": msg.links.alert,
        "metadata": metadata,
    }))
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let Some(body) = render(cfg, msg) else { return Ok(Sent::ok("incident.io has no acknowledged state; skipped")) };
    let api = cfg.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
    let id = cfg.alert_source_config_id.as_deref().unwrap_or("");
    let auth = format!("Bearer {}", cfg.api_token.as_deref().unwrap_or(""));
    env.http.post_json(&format!("{api}/v2/alert_events/http/{id}"), &body, &[("Authorization", &auth)])?;
    Ok(Sent::ok("alert event accepted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::fixtures::message;

    #[test]
    fn firing_and_resolved_events() {
        let cfg: Config = serde_json::from_value(
            json!({"api_token": "t", "alert_source_config_id": "01H", "metadata": {"env": "prod"}}),
        )
        .unwrap();
        let f = render(&cfg, &message(EventKind::Triggered)).unwrap();
        assert_eq!((f["status"].as_str(), f["deduplication_key"].as_str()), (Some("firing"), Some("incidentrelay-42")));
        assert_eq!(f["source_url"], "https://oncall.example/alerts/42");
        assert_eq!(f["metadata"]["env"], "prod");
        assert_eq!(f["metadata"]["team"], "infra");
        let r = render(&cfg, &message(EventKind::Resolved)).unwrap();
        assert_eq!(r["status"], "resolved");
        assert!(render(&cfg, &message(EventKind::Acknowledged)).is_none());
    }
}
