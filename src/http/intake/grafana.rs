//! Grafana alerting webhook (`version: "1"`): like Alertmanager's, with dashboard and panel
//! links and evaluated values.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::alertmanager::{self, Item};
use super::{ParseResult, parse};

#[derive(Debug, Deserialize)]
struct Webhook {
    #[serde(default)]
    alerts: Option<Vec<GrafanaItem>>,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GrafanaItem {
    #[serde(flatten)]
    item: Item,
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL")]
    panel_url: Option<String>,
    #[serde(default, rename = "silenceURL")]
    silence_url: Option<String>,
    #[serde(default, rename = "valueString")]
    value_string: Option<String>,
    #[serde(default)]
    values: Option<BTreeMap<String, Value>>,
}

/// A small valid body of this format (route page examples, snippets).
pub const EXAMPLE: &str = r#"{"version": "1", "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1"}, "annotations": {"summary": "Disk full on db-1"}, "fingerprint": "disk-db-1"}]}"#;

pub fn parse_body(body: &[u8]) -> ParseResult {
    let w: Webhook = parse(body)?;
    let alerts = alertmanager::required_alerts(w.alerts)?;
    let mut out = Vec::with_capacity(alerts.len());
    let mut errors = Vec::new();
    for (i, g) in alerts.into_iter().enumerate() {
        let has_description =
            g.item.annotations.contains_key("description") || g.item.annotations.contains_key("message");
        let mut a = match alertmanager::convert(g.item, i, None) {
            Ok(a) => a,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        a.labels.remove("alertmanager_url");
        if let Some(u) = w.external_url.as_deref().filter(|u| !u.is_empty()) {
            a.labels.insert("grafana_url".into(), u.to_string());
        }
        let nonempty = |u: Option<String>| u.filter(|u| !u.is_empty());
        let dashboard = nonempty(g.panel_url).or(nonempty(g.dashboard_url));
        if let Some(d) = &dashboard {
            a.labels.insert("dashboard_url".into(), d.clone());
        }
        if let Some(s) = nonempty(g.silence_url) {
            a.labels.insert("silence_url".into(), s);
        }
        a.event_link = dashboard.or(a.event_link);
        if !has_description {
            a.message = match (nonempty(g.value_string), g.values.filter(|v| !v.is_empty())) {
                (Some(s), _) => s,
                (None, Some(v)) => v.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
                (None, None) => String::new(),
            };
        }
        out.push(a.clamp());
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::{Action, Severity};

    #[test]
    fn documented_payload() {
        let body =
            std::fs::read(format!("{}/tests/fixtures/grafana/two_alerts_firing.json", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let alerts = parse_body(&body).unwrap();
        assert_eq!(alerts.len(), 2);
        let a = &alerts[0];
        assert_eq!((a.action, a.title.as_str()), (Action::Trigger, "Memory above 95% on web-1"));
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.dedup_key.as_deref(), Some("c6eadffa33fcdf37"));
        assert_eq!(a.event_link.as_deref(), Some("https://grafana.example/d/nodes?viewPanel=4"));
        assert_eq!(a.message, "web-1 uses 97% of its memory");
        assert_eq!(a.labels["grafana_folder"], "Infra");
        assert_eq!(a.labels["grafana_url"], "https://grafana.example/");
        let b = &alerts[1];
        assert_eq!((b.action, b.title.as_str()), (Action::Resolve, "HighCPU"));
        assert_eq!(b.event_link.as_deref(), Some("https://grafana.example/alerting/grafana/def456/view"));
    }

    #[test]
    fn values_become_the_message_without_a_description() {
        let a = &parse_body(br#"{"version": "1", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "values": {"B": 3.5}}]}"#).unwrap()[0];
        assert_eq!(a.message, "B=3.5");
    }
}
