//! incident.io incident webhooks: a declared incident pages the on-call person. incident.io
//! signs its webhooks with Standard Webhooks (Svix): the route's signing secret is the
//! credential (see `handle_incidentio` in the module). `public_incident.incident_created_v2`
//! and `…incident_updated_v2` map to alerts; every other event type is acknowledged and
//! ignored.
//!
//! | incident status category | alert |
//! |---|---|
//! | `triage`, `live`, `paused` | firing |
//! | `learning` (post-incident), `closed` | resolved |
//! | `declined`, `merged`, `canceled` | resolved, with the reason on the timeline |

use serde::Deserialize;
use serde_json::Value;

use super::{ParseResult, parse};
use crate::domain::alert::{Action, IncomingAlert};
use crate::domain::validate::FieldError;

/// The event types that become alerts.
pub const INCIDENT_EVENTS: [&str; 2] = ["public_incident.incident_created_v2", "public_incident.incident_updated_v2"];

#[derive(Debug, Deserialize)]
struct Envelope {
    event_type: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Incident {
    id: String,
    name: String,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    incident_status: Status,
    #[serde(default)]
    severity: Option<Named>,
    #[serde(default)]
    incident_type: Option<Named>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    incident_role_assignments: Vec<RoleAssignment>,
}

#[derive(Debug, Deserialize)]
struct Status {
    category: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct RoleAssignment {
    role: Role,
    #[serde(default)]
    assignee: Option<Person>,
}

#[derive(Debug, Deserialize)]
struct Role {
    #[serde(default)]
    role_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Person {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slack_user_id: Option<String>,
}

/// A small valid body of this format (route page examples, snippets).
pub const EXAMPLE: &str = r#"{"event_type": "public_incident.incident_created_v2", "public_incident.incident_created_v2": {"id": "01HDISKDB1", "name": "Disk full on db-1", "summary": "The primary database is out of disk space.", "permalink": "https://app.incident.io/acme/incidents/42", "incident_status": {"category": "live", "name": "Investigating"}, "severity": {"name": "Critical"}, "incident_role_assignments": []}}"#;

/// What status category means for the alert: the action, and why it was closed if not fixed.
fn status_action(category: &str) -> Result<(Action, Option<&'static str>), String> {
    Ok(match category {
        "triage" | "live" | "paused" => (Action::Trigger, None),
        "learning" | "post-incident" | "closed" | "resolved" => (Action::Resolve, None),
        "declined" => (Action::Resolve, Some("declined in incident.io")),
        "merged" => (Action::Resolve, Some("merged into another incident in incident.io")),
        "canceled" | "cancelled" => (Action::Resolve, Some("canceled in incident.io")),
        other => return Err(format!("unknown status category \"{other}\"")),
    })
}

/// The alerts of one webhook: one for an incident event, none for any other event type.
pub fn parse_body(body: &[u8]) -> ParseResult {
    let envelope: Envelope = parse(body)?;
    if !INCIDENT_EVENTS.contains(&envelope.event_type.as_str()) {
        return Ok(Vec::new());
    }
    let field = envelope.event_type.clone();
    let inner = envelope
        .rest
        .get(&field)
        .cloned()
        .ok_or_else(|| vec![FieldError::new(field.clone(), "is missing (the incident)")])?;
    let incident: Incident =
        serde_json::from_value(inner).map_err(|e| vec![FieldError::new(field.clone(), e.to_string())])?;
    let (action, resolution) = status_action(&incident.incident_status.category)
        .map_err(|m| vec![FieldError::new(format!("{field}.incident_status.category"), m)])?;
    let title = match &incident.reference {
        Some(r) if !r.is_empty() => format!("{r}: {}", incident.name),
        _ => incident.name.clone(),
    };
    let mut a = IncomingAlert::new(action, title);
    a.dedup_key = Some(incident.id.clone());
    a.message = incident.summary.unwrap_or_default();
    a.event_link = incident.permalink;
    a.resolution = resolution.map(str::to_string);
    a.set_severity(incident.severity.as_ref().map(|s| s.name.as_str()).unwrap_or(""));
    let mut label = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            a.labels.insert(k.to_string(), v);
        }
    };
    label("incident_id", Some(incident.id));
    label("incident_reference", incident.reference);
    label("incident_status", incident.incident_status.name);
    label("incident_status_category", Some(incident.incident_status.category));
    label("incident_severity", incident.severity.map(|s| s.name));
    label("incident_type", incident.incident_type.map(|t| t.name));
    label("incident_mode", incident.mode);
    let lead = incident
        .incident_role_assignments
        .into_iter()
        .find(|r| r.role.role_type.as_deref() == Some("lead"))
        .and_then(|r| r.assignee);
    if let Some(lead) = lead {
        label("incident_lead", lead.name);
        a.assignee_slack_user_id = lead.slack_user_id.filter(|s| !s.is_empty());
    }
    Ok(vec![a.clamp()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Severity;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/incidentio/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn a_declared_incident_is_a_firing_alert_led_by_its_lead() {
        let a = parse_body(&fixture("incident_created_v2.json")).unwrap().remove(0);
        assert_eq!(a.action, Action::Trigger);
        assert_eq!(a.dedup_key.as_deref(), Some("01FDAG4SAP5TYPT98WGR2N7W91"));
        assert_eq!(a.title, "INC-123: Our database is sad");
        assert_eq!(a.message, "Our database is really really sad, and we don't know why yet.");
        assert_eq!(a.event_link.as_deref(), Some("https://app.incident.io/incidents/123"));
        assert_eq!(a.severity, Severity::High, "Major");
        assert_eq!(a.assignee_slack_user_id.as_deref(), Some("U02AYNF2XJM"));
        assert_eq!(a.labels["incident_lead"], "Lisa Karlin Curtis");
        assert_eq!(a.labels["incident_status_category"], "triage");
    }

    #[test]
    fn closed_and_declined_incidents_resolve_declined_ones_saying_why() {
        let a = parse_body(&fixture("incident_updated_v2_closed.json")).unwrap().remove(0);
        assert_eq!((a.action, a.resolution), (Action::Resolve, None));
        let a = parse_body(&fixture("incident_updated_v2_declined.json")).unwrap().remove(0);
        assert_eq!((a.action, a.resolution.as_deref()), (Action::Resolve, Some("declined in incident.io")));
        for (category, action) in
            [("live", Action::Trigger), ("learning", Action::Resolve), ("merged", Action::Resolve)]
        {
            assert_eq!(status_action(category).unwrap().0, action, "{category}");
        }
        assert!(status_action("exploded").is_err());
    }

    #[test]
    fn other_event_types_are_no_alerts_and_bad_bodies_name_the_field() {
        assert!(parse_body(&fixture("follow_up_created_v2.json")).unwrap().is_empty());
        let e = parse_body(br#"{"event_type": "public_incident.incident_created_v2"}"#).unwrap_err();
        assert_eq!(e[0].field, "public_incident.incident_created_v2");
        let e = parse_body(br#"{"event_type": "public_incident.incident_created_v2", "public_incident.incident_created_v2": {"id": "x", "name": "n", "incident_status": {"category": "exploded"}}}"#).unwrap_err();
        assert_eq!(e[0].field, "public_incident.incident_created_v2.incident_status.category");
        assert_eq!(parse_body(b"{}").unwrap_err()[0].field, "event_type");
    }
}
