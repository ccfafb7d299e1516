//! Prometheus Alertmanager webhook (payload version 4): one alert per `alerts[]` item, each
//! with its own status; the group status is ignored (a group may mix firing and resolved).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ParseResult, first_link, parse};
use crate::domain::alert::{Action, IncomingAlert};
use crate::domain::validate::FieldError;

#[derive(Debug, Deserialize)]
pub(super) struct Webhook {
    #[serde(default)]
    pub alerts: Option<Vec<Item>>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Item {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Annotations that link somewhere useful, in order of preference.
pub(super) const LINK_ANNOTATIONS: &[&str] = &["runbook_url", "runbook", "dashboard_url", "dashboard", "url", "link"];

/// Converts one item; `index` names it in errors.
pub(super) fn convert(item: Item, index: usize, external_url: Option<&str>) -> Result<IncomingAlert, FieldError> {
    let action = match item.status.as_str() {
        "firing" => Action::Trigger,
        "resolved" => Action::Resolve,
        other => {
            return Err(FieldError::new(
                format!("alerts[{index}].status"),
                format!("must be firing or resolved, not {other:?}"),
            ));
        }
    };
    let title = item
        .annotations
        .get("summary")
        .or_else(|| item.labels.get("alertname"))
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "Alertmanager alert".to_string());
    let mut a = IncomingAlert::new(action, title);
    a.message =
        item.annotations.get("description").or_else(|| item.annotations.get("message")).cloned().unwrap_or_default();
    a.event_link = first_link(&item.annotations, LINK_ANNOTATIONS)
        .or_else(|| item.generator_url.clone().filter(|u| !u.is_empty()));
    let severity = item.labels.get("severity").cloned().unwrap_or_default();
    a.dedup_key = item.fingerprint.filter(|f| !f.is_empty());
    a.labels = item.labels;
    if !severity.is_empty() {
        a.set_severity(&severity);
    }
    if let Some(u) = external_url.filter(|u| !u.is_empty()) {
        a.labels.insert("alertmanager_url".into(), u.to_string());
    }
    if let Some(u) = item.generator_url.filter(|u| !u.is_empty()) {
        a.labels.insert("generator_url".into(), u);
    }
    Ok(a.clamp())
}

/// The `alerts` list of an Alertmanager-shaped body: a body without one, or with an empty one,
/// is refused (a 2xx that stored nothing would look like success to the sender).
pub(super) fn required_alerts<T>(alerts: Option<Vec<T>>) -> Result<Vec<T>, Vec<FieldError>> {
    match alerts {
        None => Err(vec![FieldError::new(
            "alerts",
            "is required: this endpoint takes Alertmanager's webhook format ({\"alerts\": [{\"status\": \"firing\", \"labels\": {…}}]}); \
             other JSON goes to /api/integrations/webhook",
        )]),
        Some(list) if list.is_empty() => Err(vec![FieldError::new("alerts", "is empty: there is nothing to store")]),
        Some(list) => Ok(list),
    }
}

/// A small valid body of this format (route page examples, snippets).
pub const EXAMPLE: &str = r#"{"alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"}, "annotations": {"summary": "Disk full on db-1"}, "fingerprint": "disk-db-1"}]}"#;

pub fn parse_body(body: &[u8]) -> ParseResult {
    let w: Webhook = parse(body)?;
    let ext = w.external_url;
    let alerts = required_alerts(w.alerts)?;
    let mut out = Vec::with_capacity(alerts.len());
    let mut errors = Vec::new();
    for (i, item) in alerts.into_iter().enumerate() {
        match convert(item, i, ext.as_deref()) {
            Ok(a) => out.push(a),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Severity;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/alertmanager/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn single_firing() {
        let alerts = parse_body(&fixture("amapi_single_firing.json")).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.action, Action::Trigger);
        assert_eq!(a.title, "CPU above 90% on web-1");
        assert_eq!(a.message, "CPU usage is 97% for 5m");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.dedup_key.as_deref(), Some("59375702559462c1"));
        assert_eq!(a.event_link.as_deref(), Some("https://runbooks.example/highcpu"));
        assert_eq!(a.labels["alertname"], "HighCPU");
        assert_eq!(a.labels["instance"], "web-1:9100");
        assert_eq!(a.labels["alertmanager_url"], "http://vm:19093");
        assert_eq!(a.labels["generator_url"], "http://127.0.0.1:19090/graph?g0.expr=cpu");
    }

    #[test]
    fn single_resolved_has_the_same_key() {
        let a = &parse_body(&fixture("amapi_single_resolved.json")).unwrap()[0];
        assert_eq!(a.action, Action::Resolve);
        assert_eq!(a.dedup_key.as_deref(), Some("59375702559462c1"));
    }

    #[test]
    fn mixed_group_handles_each_item() {
        let alerts = parse_body(&fixture("amtool_group_one_resolved_one_firing.json")).unwrap();
        assert_eq!(alerts.iter().map(|a| a.action).collect::<Vec<_>>(), [Action::Resolve, Action::Trigger]);
        assert_eq!(alerts[0].dedup_key.as_deref(), Some("09cacd65202cf6c6"));
        assert_eq!(alerts[1].title, "Disk 96% full on db-2");
        assert_eq!(alerts[1].severity, Severity::Warning);
        assert!(alerts[1].event_link.is_none(), "empty generatorURL is no link");
        assert!(!alerts[1].labels.contains_key("generator_url"));
    }

    #[test]
    fn two_firing_and_prometheus_rules() {
        assert_eq!(parse_body(&fixture("amtool_group_two_firing.json")).unwrap().len(), 2);
        let fire = &parse_body(&fixture("prometheus_rule_firing.json")).unwrap()[0];
        assert_eq!(fire.title, "Synthetic always-firing alert from Prometheus");
        assert_eq!(fire.event_link.as_deref(), Some("http://vm:19090/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1"));
        let res = &parse_body(&fixture("prometheus_rule_resolved.json")).unwrap()[0];
        assert_eq!((res.action, res.dedup_key.as_deref()), (Action::Resolve, Some("b186265b81bf867d")));
    }

    #[test]
    fn bad_items_name_the_field() {
        let errs = parse_body(br#"{"alerts": [{"status": "firing"}, {"status": "pending"}]}"#).unwrap_err();
        assert_eq!(errs[0].field, "alerts[1].status");
        let errs = parse_body(br#"{"alerts": [{"status": "firing", "labels": {"a": 1}}]}"#).unwrap_err();
        assert_eq!(errs[0].field, "alerts[0].labels.a");
        assert_eq!(parse_body(b"{}").unwrap_err()[0].field, "alerts", "no alerts: nothing would be stored");
        assert_eq!(parse_body(br#"{"alerts": []}"#).unwrap_err()[0].field, "alerts");
        assert_eq!(parse_body(br#"{"title": "generic"}"#).unwrap_err()[0].field, "alerts");
    }

    #[test]
    fn title_falls_back_to_alertname_and_unknown_severity_is_kept() {
        let a = &parse_body(br#"{"alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": "page"}}]}"#)
            .unwrap()[0];
        assert_eq!(a.title, "X");
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(a.labels["severity"], "page");
        assert!(a.dedup_key.is_none(), "intake derives a key from the content");
    }
}
