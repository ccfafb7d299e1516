//! Zabbix webhook media type. Every value is a string; a macro that does not apply to an event
//! arrives unexpanded (`{EVENT.RECOVERY.ID}`) and counts as absent. Both the contract's field
//! names (`event_id`, `title`/`subject`, `status`, `severity`, `host`, `tags`) and those of the
//! media type shipped in `examples/` (`event_status`, `event_name`, `event_severity`,
//! `event_tags`, `host_name`…) are accepted. The dedup key is the problem's event id: a
//! recovery for event N resolves N.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ParseResult, parse};
use crate::domain::alert::{Action, IncomingAlert, Severity};
use crate::domain::validate::FieldError;

/// A string field, absent when empty, `*UNKNOWN*` or an unexpanded `{MACRO}`.
fn text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        let v = match obj.get(*k)? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        let is_macro = v.starts_with('{') && v.ends_with('}') && !v.contains(' ');
        (!v.is_empty() && !is_macro && v != "*UNKNOWN*").then_some(v)
    })
}

/// Zabbix severities (names or 0–5).
fn severity(raw: &str) -> Option<Severity> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "0" | "not classified" => Severity::Info,
        "1" | "information" => Severity::Info,
        "2" | "warning" => Severity::Warning,
        "3" | "average" => Severity::Warning,
        "4" | "high" => Severity::High,
        "5" | "disaster" => Severity::Critical,
        _ => return None,
    })
}

/// Tags as a list of `{tag, value}`, an object, or `"k:v, k2:v2"`.
fn tags(v: &Value, field: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for (i, it) in items.iter().enumerate() {
                let tag = it.get("tag").and_then(Value::as_str);
                let value = it.get("value").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                match tag {
                    Some(t) if !t.is_empty() => {
                        out.insert(t.to_string(), value.unwrap_or_default());
                    }
                    _ => return Err(FieldError::new(format!("{field}[{i}]"), "must be {\"tag\": …, \"value\": …}")),
                }
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            }
        }
        Value::String(s) => {
            let is_macro = s.trim().starts_with('{') && s.trim().ends_with('}');
            if !is_macro {
                for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.split_once(':') {
                        Some((k, v)) => out.insert(k.trim().to_string(), v.trim().to_string()),
                        None => out.insert(part.to_string(), String::new()),
                    };
                }
            }
        }
        _ => return Err(FieldError::new(field, "must be a list of {tag, value}, an object, or \"k:v, k2:v2\"")),
    }
    Ok(out)
}

/// A small valid body of this format (route page examples, snippets).
pub const EXAMPLE: &str = r#"{"event_id": "1001", "event_value": "1", "event_name": "Disk full on db-1", "event_severity": "High", "host_name": "db-1"}"#;

pub fn parse_body(body: &[u8]) -> ParseResult {
    let v: Value = parse(body)?;
    let Value::Object(obj) = v else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let status = text(&obj, &["status", "event_status", "trigger_status"]).unwrap_or_else(|| "PROBLEM".into());
    let recovered =
        text(&obj, &["event_recovery_id"]).is_some() || text(&obj, &["event_value"]).as_deref() == Some("0");
    let action = match status.to_ascii_uppercase().as_str() {
        "PROBLEM" | "FIRING" | "UPDATE" if !recovered => Action::Trigger,
        "PROBLEM" | "FIRING" | "UPDATE" | "OK" | "RESOLVED" | "RECOVERY" => Action::Resolve,
        _ => {
            errors.push(FieldError::new("status", format!("must be PROBLEM, RESOLVED or OK, not {status:?}")));
            Action::Trigger
        }
    };
    let event_id = text(&obj, &["event_id", "eventid"]);
    let trigger_id = text(&obj, &["trigger_id", "triggerid"]);
    let dedup_key = match (&event_id, &trigger_id) {
        (Some(e), _) => Some(format!("zabbix-event-{e}")),
        (None, Some(t)) => Some(format!("zabbix-trigger-{t}")),
        (None, None) => {
            errors.push(FieldError::new("event_id", "is required (the Zabbix {EVENT.ID} macro)"));
            None
        }
    };
    let title = text(&obj, &["title", "event_name", "subject", "trigger_name", "name"]);
    if title.is_none() {
        errors.push(FieldError::new("title", "is required (title, subject or event_name)"));
    }
    let mut labels = BTreeMap::new();
    if let Some(Value::Object(l)) = obj.get("labels") {
        for (k, v) in l {
            labels.insert(k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        }
    } else if obj.get("labels").is_some_and(|l| !l.is_null()) {
        errors.push(FieldError::new("labels", "must be an object"));
    }
    for key in ["tags", "event_tags"] {
        if let Some(t) = obj.get(key) {
            match tags(t, key) {
                Ok(t) => labels.extend(t),
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut a = IncomingAlert::new(action, title.unwrap_or_default());
    a.dedup_key = dedup_key;
    a.message = text(&obj, &["message", "description", "trigger_description"]).unwrap_or_default();
    a.event_link = text(&obj, &["event_link", "url", "trigger_url"]);
    a.labels = labels;
    for (label, keys) in [
        ("host", &["host", "host_name", "host_host"][..]),
        ("host_ip", &["host_ip"][..]),
        ("trigger_id", &["trigger_id", "triggerid"][..]),
        ("event_id", &["event_id", "eventid"][..]),
        ("opdata", &["event_opdata", "opdata"][..]),
    ] {
        if let Some(v) = text(&obj, keys) {
            a.labels.entry(label.to_string()).or_insert(v);
        }
    }
    match text(&obj, &["severity", "event_severity", "event_nseverity", "trigger_severity"]) {
        Some(raw) => match severity(&raw) {
            Some(s) => a.severity = s,
            None => a.set_severity(&raw),
        },
        None => a.severity = Severity::Warning,
    }
    Ok(vec![a.clamp()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/zabbix/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn problem() {
        let a = &parse_body(&fixture("problem.json")).unwrap()[0];
        assert_eq!(a.action, Action::Trigger);
        assert_eq!(a.title, "High CPU on web-1");
        assert_eq!(a.dedup_key.as_deref(), Some("zabbix-event-28"));
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.labels["host"], "web-1");
        assert_eq!(a.labels["service"], "web");
        assert_eq!(a.labels["team"], "infra");
        assert_eq!(a.labels["trigger_id"], "23133");
        assert!(!a.labels.contains_key("host_ip"), "*UNKNOWN* is absent");
        assert!(a.message.starts_with("Problem started at 11:04:05"));
    }

    #[test]
    fn recovery_resolves_the_same_event() {
        let a = &parse_body(&fixture("recovery.json")).unwrap()[0];
        assert_eq!(a.action, Action::Resolve);
        assert_eq!(a.dedup_key.as_deref(), Some("zabbix-event-28"));
    }

    #[test]
    fn an_acknowledge_update_is_a_repeat_of_the_problem() {
        let a = &parse_body(&fixture("update_ack.json")).unwrap()[0];
        assert_eq!(a.action, Action::Trigger);
        assert_eq!(a.dedup_key.as_deref(), Some("zabbix-event-28"));
    }

    #[test]
    fn contract_field_names_and_tag_forms() {
        let body = br#"{"event_id": 7, "subject": "Disk full", "status": "PROBLEM", "severity": "Disaster", "host": "db-1",
                        "tags": "service:db, env:prod", "labels": {"dc": "fra"}, "event_link": "https://zabbix.example/tr_events.php?eventid=7"}"#;
        let a = &parse_body(body).unwrap()[0];
        assert_eq!((a.title.as_str(), a.severity), ("Disk full", Severity::Critical));
        assert_eq!(a.labels["service"], "db");
        assert_eq!(a.labels["env"], "prod");
        assert_eq!(a.labels["dc"], "fra");
        assert_eq!(a.event_link.as_deref(), Some("https://zabbix.example/tr_events.php?eventid=7"));
        let ok =
            &parse_body(br#"{"event_id": "7", "title": "Disk full", "status": "OK", "tags": {"a": "b"}}"#).unwrap()[0];
        assert_eq!(ok.action, Action::Resolve);
        assert_eq!(ok.labels["a"], "b");
        let nsev = &parse_body(br#"{"event_id": "8", "title": "x", "event_nseverity": "3"}"#).unwrap()[0];
        assert_eq!(nsev.severity, Severity::Warning, "average");
    }

    #[test]
    fn missing_and_bad_fields_are_named() {
        let errs = parse_body(br#"{"status": "WEIRD", "tags": 5}"#).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "event_id", "title", "tags"]);
        let errs = parse_body(br#"{"event_id": "1", "title": "t", "event_tags": [{"value": "x"}]}"#).unwrap_err();
        assert_eq!(errs[0].field, "event_tags[0]");
        assert!(parse_body(b"[1]").is_err());
    }
}
