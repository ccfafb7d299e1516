//! Routing decisions that need no database: matcher acceptance and group keys.

use std::collections::BTreeMap;

use super::alert::IncomingAlert;
use super::matcher::{Matchers, Subject};

/// The view of an incoming alert that matchers evaluate.
pub fn subject<'a>(a: &'a IncomingAlert, source: &'a str) -> Subject<'a> {
    Subject {
        labels: &a.labels,
        title: &a.title,
        message: &a.message,
        source,
        severity: a.severity.as_str(),
        component: &a.component,
    }
}

/// `Ok(())` when the route's allow-list accepts the alert, else the reason.
pub fn accept(matchers: &Matchers, a: &IncomingAlert, source: &str) -> Result<(), String> {
    let s = subject(a, source);
    if matchers.matches(&s) {
        Ok(())
    } else {
        Err(format!("the route's matchers do not match: {}", matchers.explain(&s).join("; ")))
    }
}

/// The group key for `group_by` labels: `None` when the route does not group.
pub fn group_key(group_by: &[String], labels: &BTreeMap<String, String>) -> Option<String> {
    if group_by.is_empty() {
        return None;
    }
    let parts: Vec<String> =
        group_by.iter().map(|l| format!("{l}={}", labels.get(l).map(String::as_str).unwrap_or(""))).collect();
    Some(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Action;
    use serde_json::json;

    #[test]
    fn accept_explains_rejections() {
        let m = Matchers::parse(&json!(["severity=\"critical\""]), "m").unwrap();
        let mut a = IncomingAlert::new(Action::Trigger, "x".into());
        a.labels.insert("severity".into(), "warning".into());
        let err = accept(&m, &a, "alertmanager").unwrap_err();
        assert!(err.contains("label severity"), "{err}");
        a.labels.insert("severity".into(), "critical".into());
        assert!(accept(&m, &a, "alertmanager").is_ok());
    }

    #[test]
    fn group_keys_use_the_listed_labels_in_order() {
        let labels: BTreeMap<String, String> =
            [("alertname", "DiskFull"), ("instance", "db-1")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        assert_eq!(group_key(&["alertname".into()], &labels).as_deref(), Some("alertname=DiskFull"));
        assert_eq!(group_key(&["alertname".into(), "dc".into()], &labels).as_deref(), Some("alertname=DiskFull,dc="));
        assert_eq!(group_key(&[], &labels), None);
    }
}
