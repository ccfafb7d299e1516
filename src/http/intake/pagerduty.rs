//! PagerDuty Events API v2: `trigger`, `acknowledge`, `resolve` by `dedup_key`, with PagerDuty's
//! validation (summary ≤ 1024, source, severity ∈ critical|error|warning|info, dedup_key ≤ 255)
//! and its error wording.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::domain::alert::{Action, AlertImage, AlertLink, IncomingAlert, MAX_DEDUP_KEY};
use crate::domain::change::IncomingChange;
use crate::domain::time::Ts;
use crate::domain::validate::FieldError;

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(default)]
    event_action: Option<String>,
    #[serde(default)]
    dedup_key: Option<Value>,
    #[serde(default)]
    payload: Option<Payload>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    images: Vec<Image>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    client_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    custom_details: Option<Value>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Link {
    #[serde(default)]
    href: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Image {
    #[serde(default)]
    src: Option<String>,
    #[serde(default)]
    href: Option<String>,
    #[serde(default)]
    alt: Option<String>,
}

fn details_text(v: &Value) -> (String, BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            let mut labels = BTreeMap::new();
            let mut lines = Vec::new();
            for (k, v) in m {
                let s = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                if !s.is_empty() {
                    lines.push(format!("{k}: {s}"));
                }
                if s.len() <= 256 && !s.contains('\n') {
                    labels.insert(format!("details.{k}"), s);
                }
            }
            (lines.join("\n"), labels)
        }
        Value::Null => (String::new(), BTreeMap::new()),
        Value::String(s) => (s.clone(), BTreeMap::new()),
        other => (other.to_string(), BTreeMap::new()),
    }
}

/// Parses one event. Errors use PagerDuty's wording, e.g. `'payload.summary' is missing or blank`.
/// A small valid body of this format (route page examples, snippets); the intake token goes
/// into `routing_key`.
pub const EXAMPLE: &str = r#"{"event_action": "trigger", "dedup_key": "disk-db-1", "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}}"#;

/// One event, as the other formats' parsers answer.
pub fn parse_body(body: &[u8]) -> super::ParseResult {
    parse_event(body).map(|a| vec![a])
}

pub fn parse_event(body: &[u8]) -> Result<IncomingAlert, Vec<FieldError>> {
    let e: Event = super::parse(body)?;
    let mut errors = Vec::new();
    let action = match e.event_action.as_deref() {
        Some("trigger") => Action::Trigger,
        Some("acknowledge") => Action::Acknowledge,
        Some("resolve") => Action::Resolve,
        Some(other) => {
            errors.push(FieldError::new(
                "event_action",
                format!("'{other}' is not one of trigger, acknowledge, resolve"),
            ));
            Action::Trigger
        }
        None => {
            errors.push(FieldError::new("event_action", "is missing or blank"));
            Action::Trigger
        }
    };
    let dedup_key = e
        .dedup_key
        .as_ref()
        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        .filter(|k| !k.is_empty());
    if dedup_key.as_ref().is_some_and(|k| k.chars().count() > MAX_DEDUP_KEY) {
        errors.push(FieldError::new("dedup_key", "must be at most 255 characters"));
    }
    if action != Action::Trigger && dedup_key.is_none() {
        errors.push(FieldError::new("dedup_key", "is required for acknowledge and resolve events"));
    }
    let mut a = IncomingAlert::new(action, String::new());
    a.dedup_key = dedup_key;
    a.reopen = false;
    match (action, e.payload) {
        (Action::Trigger, None) => errors.push(FieldError::new("payload", "is missing")),
        (_, None) => {}
        (_, Some(p)) => {
            let summary = p.summary.unwrap_or_default();
            if action == Action::Trigger && summary.trim().is_empty() {
                errors.push(FieldError::new("payload.summary", "is missing or blank"));
            }
            if summary.chars().count() > 1024 {
                errors.push(FieldError::new("payload.summary", "must be at most 1024 characters"));
            }
            let source = p.source.unwrap_or_default();
            if action == Action::Trigger && source.trim().is_empty() {
                errors.push(FieldError::new("payload.source", "is missing or blank"));
            }
            match p.severity.as_deref() {
                Some(s @ ("critical" | "error" | "warning" | "info")) => a.set_severity(s),
                Some(other) => errors.push(FieldError::new(
                    "payload.severity",
                    format!("'{other}' is not one of critical, error, warning, info"),
                )),
                None if action == Action::Trigger => {
                    errors.push(FieldError::new("payload.severity", "is missing or blank"))
                }
                None => {}
            }
            if let Some(ts) = &p.timestamp
                && crate::domain::time::Ts::parse(ts).is_err()
            {
                errors.push(FieldError::new("payload.timestamp", "is not an ISO 8601 date-time"));
            }
            a.title = summary;
            a.component = p.component.clone().unwrap_or_default();
            let (text, detail_labels) = p.custom_details.as_ref().map(details_text).unwrap_or_default();
            a.message = text;
            a.labels.extend(detail_labels);
            for (k, v) in [("source", Some(source)), ("component", p.component), ("group", p.group), ("class", p.class)]
            {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    a.labels.insert(k.to_string(), v);
                }
            }
        }
    }
    if let Some(c) = e.client.filter(|c| !c.is_empty()) {
        a.labels.insert("client".into(), c);
    }
    // Every link and image is kept (`clamp` drops what is not http(s)); the first link is also
    // the alert's event link, as before.
    a.links = e
        .links
        .into_iter()
        .filter_map(|l| l.href.map(|href| AlertLink { href, text: l.text.unwrap_or_default() }))
        .collect();
    a.images = e
        .images
        .into_iter()
        .filter_map(|i| i.src.map(|src| AlertImage { src, href: i.href, alt: i.alt.unwrap_or_default() }))
        .collect();
    a.event_link = a
        .links
        .iter()
        .map(|l| l.href.clone())
        .find(|h| crate::domain::validate::is_http_url(h))
        .or(e.client_url.filter(|u| crate::domain::validate::is_http_url(u)));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(a.clamp())
}

/// A PagerDuty Change Event (`POST /v2/change/enqueue`): `{routing_key, payload: {summary,
/// source, timestamp, custom_details}, links, images}`. `summary` is required (at most 1024
/// characters, as PagerDuty checks); a timestamp PagerDuty would take but that does not parse
/// here (`2020-07-17T08:42:58.315+0000`) is read with its offset, else the arrival time is used.
pub fn parse_change(body: &[u8]) -> Result<IncomingChange, Vec<FieldError>> {
    #[derive(Debug, Deserialize)]
    struct Change {
        #[serde(default)]
        payload: Option<ChangePayload>,
        #[serde(default)]
        links: Vec<Link>,
        #[serde(default)]
        images: Vec<Image>,
    }
    #[derive(Debug, Deserialize)]
    struct ChangePayload {
        #[serde(default)]
        summary: Option<String>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        timestamp: Option<String>,
        #[serde(default)]
        custom_details: Option<Value>,
    }
    let e: Change = serde_json::from_slice(body).map_err(|e| vec![FieldError::new("body", e.to_string())])?;
    let Some(p) = e.payload else { return Err(vec![FieldError::new("payload", "is missing")]) };
    let summary = p.summary.unwrap_or_default();
    if summary.trim().is_empty() {
        return Err(vec![FieldError::new("payload.summary", "is missing or blank")]);
    }
    if summary.chars().count() > 1024 {
        return Err(vec![FieldError::new("payload.summary", "must be at most 1024 characters")]);
    }
    let happened_at = p.timestamp.as_deref().and_then(|t| {
        Ts::parse(t).ok().or_else(|| {
            // `+0000` → `+00:00`, the form RFC 3339 wants.
            let (head, off) = t.split_at(t.len().saturating_sub(5));
            let fixed = off.starts_with(['+', '-']).then(|| format!("{head}{}:{}", &off[..3], &off[3..]))?;
            Ts::parse(&fixed).ok()
        })
    });
    Ok(IncomingChange {
        summary,
        source: p.source.unwrap_or_default(),
        happened_at,
        details: p.custom_details.unwrap_or(Value::Object(Default::default())),
        links: e
            .links
            .into_iter()
            .filter_map(|l| l.href.map(|href| AlertLink { href, text: l.text.unwrap_or_default() }))
            .collect(),
        images: e
            .images
            .into_iter()
            .filter_map(|i| i.src.map(|src| AlertImage { src, href: i.href, alt: i.alt.unwrap_or_default() }))
            .collect(),
    }
    .clamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Severity;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/pagerduty/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn alertmanager_pagerduty_client_trigger_and_resolve() {
        let t = parse_event(&fixture("events_v2_trigger.json")).unwrap();
        assert_eq!(t.action, Action::Trigger);
        assert_eq!(t.title, "[FIRING:1] HighCPU (web-1 critical infra)");
        assert_eq!(t.severity, Severity::Critical, "PagerDuty `error` maps to critical");
        assert_eq!(t.dedup_key.as_deref(), Some("9f2a099adf99adbf3e1d24abbd84835468e75b8b96fca010db3f2b763340e4c1"));
        assert_eq!(t.labels["source"], "Alertmanager");
        assert_eq!(t.labels["details.num_firing"], "1");
        assert!(t.message.contains("alertname = HighCPU"));
        assert_eq!(t.event_link.as_deref(), Some("http://127.0.0.1:19093/#/alerts?receiver=all"));
        let r = parse_event(&fixture("events_v2_resolve.json")).unwrap();
        assert_eq!((r.action, r.dedup_key), (Action::Resolve, t.dedup_key));
    }

    #[test]
    fn validation_follows_pagerduty() {
        let errs = parse_event(br#"{"event_action": "trigger", "payload": {"severity": "urgent"}}"#).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["payload.summary", "payload.source", "payload.severity"]);
        let errs = parse_event(br#"{"event_action": "resolve"}"#).unwrap_err();
        assert_eq!(errs[0].field, "dedup_key");
        let errs = parse_event(br#"{"event_action": "explode"}"#).unwrap_err();
        assert_eq!(errs[0].field, "event_action");
        let long = format!(
            r#"{{"event_action": "trigger", "payload": {{"summary": "{}", "source": "s", "severity": "info"}}}}"#,
            "x".repeat(1025)
        );
        assert_eq!(parse_event(long.as_bytes()).unwrap_err()[0].field, "payload.summary");
        let ok = parse_event(br#"{"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "info", "component": "db"}}"#).unwrap();
        assert!(ok.dedup_key.is_none(), "intake generates one");
        assert_eq!(ok.component, "db");
    }
}

#[cfg(test)]
mod links_tests {
    use super::*;

    #[test]
    fn every_link_and_image_is_kept_and_only_http_ones() {
        let body = serde_json::json!({
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "CPU high", "source": "web-1", "severity": "error"},
            "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"},
                      {"href": "https://runbooks.example/cpu"},
                      {"href": "javascript:alert(1)", "text": "bad"}],
            "images": [{"src": "https://grafana.example/render/1.png", "href": "https://grafana.example/d/1", "alt": "CPU graph"},
                       {"src": "data:image/png;base64,AAAA"}]
        });
        let a = parse_event(body.to_string().as_bytes()).unwrap();
        let links: Vec<(&str, &str)> = a.links.iter().map(|l| (l.href.as_str(), l.text.as_str())).collect();
        assert_eq!(links, [("https://grafana.example/d/1", "Dashboard"), ("https://runbooks.example/cpu", "")]);
        assert_eq!(
            a.event_link.as_deref(),
            Some("https://grafana.example/d/1"),
            "the first link is still the event link"
        );
        assert_eq!(
            a.images,
            [AlertImage {
                src: "https://grafana.example/render/1.png".into(),
                href: Some("https://grafana.example/d/1".into()),
                alt: "CPU graph".into()
            }]
        );
    }
}

#[cfg(test)]
mod change_tests {
    use super::*;

    #[test]
    fn a_change_event_keeps_its_details_links_and_time() {
        let body = serde_json::json!({
            "routing_key": "k",
            "payload": {"summary": "Build Success: increase snapshot timeout", "timestamp": "2020-07-17T08:42:58.315+0000",
                        "source": "ci-7", "custom_details": {"build_state": "passed", "build_number": "2"}},
            "links": [{"href": "https://ci.example/build/2", "text": "View in CI"}]
        });
        let c = parse_change(body.to_string().as_bytes()).unwrap();
        assert_eq!(c.summary, "Build Success: increase snapshot timeout");
        assert_eq!(c.happened_at, Some(Ts::parse("2020-07-17T08:42:58.315Z").unwrap()));
        assert_eq!(c.details["build_number"], "2");
        assert_eq!(c.links[0].text, "View in CI");
        let missing = parse_change(br#"{"routing_key": "k", "payload": {"source": "x"}}"#).unwrap_err();
        assert_eq!(missing[0].field, "payload.summary");
    }
}
