//! Discord: webhook with an embed coloured by severity.

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["webhook_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Embeds with the severity colour.";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel webhook URL, https://discord.com/api/webhooks/….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
    }
}

use serde_json::{Value, json};

use super::text::{self, color_int, headline, status_line};
use super::{Env, NotifyError, Sent};
use crate::domain::message::Message;

/// Alert text as inert Discord markdown: no masked links, formatting or mention syntax (the
/// webhook also allows no mentions at all).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '(' | ')' | '#' | '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn render(msg: &Message) -> Value {
    let mut desc = escape(&status_line(msg));
    if let Some(a) = &msg.alert
        && !a.message.is_empty()
    {
        desc.push_str("\n\n");
        desc.push_str(&escape(&text::clip(&a.message, 3000)));
    }
    if msg.actionable()
        && let (Some(ack), Some(res)) = (&msg.links.acknowledge, &msg.links.resolve)
    {
        desc.push_str(&format!("\n\n[Acknowledge]({ack}) · [Resolve]({res})"));
    }
    let mut fields: Vec<Value> =
        text::facts(msg).into_iter().map(|(k, v)| json!({"name": k, "value": escape(&v), "inline": true})).collect();
    let labels = text::shown_labels(msg, 10);
    if !labels.is_empty() {
        let code = |s: String| format!("`{}`", s.replace('`', "'"));
        fields.push(json!({"name": "Labels", "value": labels.iter().map(|(k, v)| code(format!("{k}={v}"))).collect::<Vec<_>>().join(" "), "inline": false}));
    }
    json!({
        "content": "",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": text::clip(&headline(msg), 256),
            "url": msg.links.alert,
            "description": text::clip(&desc, 4000),
            "color": color_int(msg),
            "fields": fields,
            "timestamp": msg.timestamp.rfc3339(),
            "footer": {"text": format!("IncidentRelay · {}", msg.team.name)},
        }]
    })
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let url = cfg.webhook_url.as_deref().ok_or_else(|| NotifyError::Permanent("webhook_url is not set".into()))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    let r = env.http.post_json(&format!("{url}{sep}wait=true"), &render(msg), &[])?;
    Ok(Sent { external_id: r.json()["id"].as_str().map(str::to_string), detail: "posted".into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn embed_with_severity_color() {
        let p = render(&message(EventKind::Triggered));
        let e = &p["embeds"][0];
        assert_eq!(e["title"], "[CRITICAL] Disk full on db-1 <sda>");
        assert_eq!(e["color"], 0xD32F2F);
        assert_eq!(e["url"], "https://oncall.example/alerts/42");
        assert!(e["description"].as_str().unwrap().contains("[Acknowledge](https://oncall.example/a/42.a.1.sig)"));
        assert_eq!(render(&message(EventKind::Resolved))["embeds"][0]["color"], 0x2E7D32);
    }
}
