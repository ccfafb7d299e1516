//! Generic webhook: a JSON document per event, signed with Standard Webhooks headers when a
//! secret is set, with optional custom headers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["secret", "headers"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["webhook_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "JSON with event, alert, team, assignee and links; signed with Standard Webhooks headers when a whsec_ secret is set.";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to POST the JSON event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `whsec_<base64>`: sign requests (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Extra request headers, e.g. {"X-Env": "prod"}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
        if let Some(s) = &self.secret {
            let ok = s.strip_prefix("whsec_").and_then(crate::crypto::b64_decode).is_some_and(|k| k.len() >= 16);
            p.check(ok, "secret", "must be whsec_ followed by at least 16 base64-encoded bytes");
        }
        for name in self.headers.keys() {
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            p.check(ok, &format!("headers.{name}"), "is not a valid header name");
        }
    }
}

use serde_json::{Value, json};

use super::{Env, NotifyError, Sent};
use crate::domain::message::Message;

/// The documented payload: `{event, timestamp, alert, team, assignee, links}`.
pub fn render(msg: &Message) -> Value {
    let alert = msg.alert.as_ref().map(|a| {
        json!({
            "id": a.id, "title": a.title, "message": a.message, "severity": a.severity, "status": a.status,
            "labels": a.labels, "event_link": a.event_link, "links": a.links, "images": a.images,
            "url": msg.links.alert, "alert_count": a.alert_count,
            "source": a.source, "dedup_key": a.dedup_key, "acknowledged_by": a.acknowledged_by, "resolved_by": a.resolved_by,
        })
    });
    json!({
        "event": msg.kind.as_str(),
        "timestamp": msg.timestamp.rfc3339(),
        "alert": alert,
        "team": {"id": msg.team.id, "slug": msg.team.slug, "name": msg.team.name},
        "assignee": msg.assignee.as_ref().map(|u| json!({"id": u.id, "username": u.username, "display_name": u.display_name})),
        "links": {"acknowledge": msg.links.acknowledge, "resolve": msg.links.resolve, "alert": msg.links.alert},
    })
}

/// Standard Webhooks headers: (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = crate::crypto::b64_decode(secret.strip_prefix("whsec_")?)?;
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    Some(format!("v1,{}", crate::crypto::b64(&crate::crypto::hmac_sha256(&key, &signed))))
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let url = cfg.webhook_url.as_deref().ok_or_else(|| NotifyError::Permanent("webhook_url is not set".into()))?;
    let body = render(msg).to_string().into_bytes();
    // Globally unique, and stable across retries so that receivers can de-duplicate.
    let id = msg.message_id.clone();
    let ts = msg.timestamp.secs().to_string();
    let mut headers: Vec<(String, String)> = cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    headers.push(("webhook-id".into(), id.clone()));
    headers.push(("webhook-timestamp".into(), ts));
    if let Some(secret) = &cfg.secret {
        let sig = sign(secret, &id, msg.timestamp.secs(), &body)
            .ok_or_else(|| NotifyError::Permanent("the secret is not whsec_<base64>".into()))?;
        headers.push(("webhook-signature".into(), sig));
    }
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = env.http.request("POST", url, "application/json", body, &h)?;
    Ok(Sent::ok(format!("HTTP {}", r.status)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn payload_shape() {
        let p = render(&message(EventKind::Triggered));
        assert_eq!(p["event"], "triggered");
        assert_eq!(p["alert"]["id"], 42);
        assert_eq!(p["alert"]["severity"], "critical");
        assert_eq!(p["alert"]["status"], "firing");
        assert_eq!(p["alert"]["url"], "https://oncall.example/alerts/42");
        assert_eq!(p["team"]["slug"], "infra");
        assert_eq!(p["assignee"]["username"], "alice");
        assert_eq!(p["links"]["acknowledge"], "https://oncall.example/a/42.a.1.sig");
        assert_eq!(p["timestamp"], "2026-11-22T09:01:00Z");
        assert_eq!(p["alert"]["links"][1]["href"], "https://grafana.example/d/db", "every link the sender gave");
        assert_eq!(p["alert"]["images"][0]["alt"], "disk usage");
    }

    #[test]
    fn standard_webhooks_test_vector() {
        // From the Standard Webhooks specification's reference implementations.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }
}
