//! The generic webhook: `{title, message, severity, status: firing|resolved, labels,
//! fingerprint, external_id, event_link}` — one object or a list of them. A body with
//! `event_action` is a PagerDuty Events v2 event instead (see `pagerduty.rs`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{ParseResult, parse};
use crate::domain::alert::{Action, IncomingAlert};
use crate::domain::validate::FieldError;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    One(Box<Event>),
    Many(Vec<Event>),
}

#[derive(Debug, Deserialize)]
struct Event {
    title: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    external_id: Option<Value>,
    #[serde(default)]
    event_link: Option<String>,
    /// Accepted (the route token may travel in the body); not part of the alert.
    #[serde(default)]
    #[allow(dead_code)]
    routing_key: Option<String>,
    /// Routing hint for personal API tokens; not part of the alert.
    #[serde(default)]
    #[allow(dead_code)]
    team: Option<Value>,
}

fn convert(e: Event, prefix: &str) -> Result<IncomingAlert, Vec<FieldError>> {
    let mut errors = Vec::new();
    let action = match e.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
        // Besides firing/resolved: what common senders put there (Datadog's $ALERT_TRANSITION…).
        None
        | Some(
            "firing" | "problem" | "trigger" | "triggered" | "re-triggered" | "alerting" | "alert" | "warn"
            | "renotify" | "no data",
        ) => Action::Trigger,
        Some("resolved" | "ok" | "resolve" | "recovered" | "recovery" | "closed") => Action::Resolve,
        Some(other) => {
            errors
                .push(FieldError::new(format!("{prefix}status"), format!("must be firing or resolved, not {other:?}")));
            Action::Trigger
        }
    };
    let title = e.title.or(e.summary).filter(|t| !t.trim().is_empty());
    if title.is_none() {
        errors.push(FieldError::new(format!("{prefix}title"), "is required"));
    }
    if let Some(f) = &e.fingerprint
        && f.chars().count() > crate::domain::alert::MAX_DEDUP_KEY
    {
        errors.push(FieldError::new(format!("{prefix}fingerprint"), "must be at most 255 characters"));
    }
    if let Some(u) = &e.event_link
        && !u.is_empty()
        && !crate::domain::validate::is_http_url(u)
    {
        errors.push(FieldError::new(format!("{prefix}event_link"), "must be an absolute http(s) URL"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut a = IncomingAlert::new(action, title.unwrap_or_default());
    a.message = e.message.unwrap_or_default();
    a.labels = e
        .labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect();
    if let Some(s) = e.severity {
        a.set_severity(&s);
    }
    let external = e.external_id.map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    a.dedup_key = e.fingerprint.filter(|f| !f.is_empty()).or(external.filter(|x| !x.is_empty()));
    a.event_link = e.event_link.filter(|u| !u.is_empty());
    Ok(a.clamp())
}

/// A small valid body of this format (route page examples, snippets).
pub const EXAMPLE: &str =
    r#"{"title": "Disk full on db-1", "severity": "critical", "fingerprint": "disk-db-1", "labels": {"env": "prod"}}"#;

pub fn parse_body(body: &[u8]) -> ParseResult {
    match parse::<Body>(body) {
        Ok(Body::One(e)) => convert(*e, "").map(|a| vec![a]),
        Ok(Body::Many(list)) => {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for (i, e) in list.into_iter().enumerate() {
                match convert(e, &format!("[{i}].")) {
                    Ok(a) => out.push(a),
                    Err(errs) => errors.extend(errs),
                }
            }
            if errors.is_empty() { Ok(out) } else { Err(errors) }
        }
        // Untagged enums lose the path: parse again as one event for a precise error.
        Err(_) => match parse::<Event>(body) {
            Ok(e) => convert(e, "").map(|a| vec![a]),
            Err(errs) => Err(errs),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Severity;

    #[test]
    fn datadog_transitions_and_priorities() {
        let a =
            &parse_body(br#"{"title": "CPU", "status": "Triggered", "severity": "P1", "fingerprint": "datadog-1"}"#)
                .unwrap()[0];
        assert_eq!((a.action, a.severity), (Action::Trigger, Severity::Critical));
        let r = &parse_body(br#"{"title": "CPU", "status": "Recovered", "fingerprint": "datadog-1"}"#).unwrap()[0];
        assert_eq!(r.action, Action::Resolve);
    }

    #[test]
    fn firing_and_resolved() {
        let a = &parse_body(
            br#"{"title": "Disk 91% on db-1", "message": "/var", "severity": "error", "labels": {"host": "db-1", "pct": 91},
                 "fingerprint": "disk-db-1", "event_link": "https://grafana.example/d/x"}"#,
        )
        .unwrap()[0];
        assert_eq!((a.action, a.severity), (Action::Trigger, Severity::Critical));
        assert_eq!(a.labels["pct"], "91");
        assert_eq!(a.dedup_key.as_deref(), Some("disk-db-1"));
        let r = &parse_body(br#"{"title": "Disk", "status": "resolved", "external_id": 42}"#).unwrap()[0];
        assert_eq!((r.action, r.dedup_key.as_deref()), (Action::Resolve, Some("42")));
    }

    #[test]
    fn lists_and_errors() {
        assert_eq!(parse_body(br#"[{"title": "a"}, {"title": "b"}]"#).unwrap().len(), 2);
        let errs = parse_body(br#"[{"title": "a"}, {"status": "maybe"}]"#).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["[1].status", "[1].title"]);
        let errs = parse_body(br#"{"title": 5}"#).unwrap_err();
        assert_eq!(errs[0].field, "title");
        let errs = parse_body(br#"{"title": "x", "event_link": "javascript:alert(1)"}"#).unwrap_err();
        assert_eq!(errs[0].field, "event_link");
        let long = format!(r#"{{"title": "x", "fingerprint": "{}"}}"#, "k".repeat(256));
        assert_eq!(parse_body(long.as_bytes()).unwrap_err()[0].field, "fingerprint");
    }
}
