//! An alert's timeline: what happened to it, in order, in words (`alert_events`).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Read, Result, Tx};
use crate::args;
use crate::domain::lifecycle::{self, RepeatEntry};
use crate::domain::time::Ts;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AlertEvent {
    pub id: i64,
    /// received, deduplicated, grouped, reopened, silenced, unsilenced, flapping, stable,
    /// notified, delivery_failed, reminder, escalated, escalation_stopped, acknowledged, resolved…
    pub event_type: String,
    pub message: String,
    pub actor: Option<String>,
    pub created_at: Ts,
    pub data: Value,
}

pub fn add_event(
    c: &Tx<'_>,
    alert_id: i64,
    now: Ts,
    event_type: &str,
    message: &str,
    actor: Option<&str>,
    data: Value,
) -> Result<()> {
    c.exec(
        "INSERT INTO alert_events (alert_id, event_type, message, actor, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![alert_id, event_type, message, actor, data.to_string(), now],
    )?;
    Ok(())
}

/// Repeats are one timeline entry, not one entry per repeat. During a burst the entry is
/// refreshed at most every `domain::lifecycle::REPEAT_REFRESH_SECS` (each refresh dirties a
/// page); the exact count is always the alert's `alert_count`.
pub fn repeat_event(c: &Tx<'_>, alert_id: i64, now: Ts, count: i64, why: &str) -> Result<()> {
    let latest: Option<(i64, String, Ts)> = c.opt(
        "SELECT id, event_type, created_at FROM alert_events WHERE alert_id = ?1 ORDER BY id DESC LIMIT 1",
        args![alert_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    match lifecycle::repeat_entry(latest.as_ref().map(|(id, t, at)| (*id, t.as_str(), *at)), now) {
        RepeatEntry::Keep => Ok(()),
        RepeatEntry::Refresh(id) => {
            let (message, data) = (lifecycle::text::repeat(count, why), json!({"alert_count": count}).to_string());
            c.exec(
                "UPDATE alert_events SET message = ?1, data = ?2, created_at = ?3 WHERE id = ?4",
                args![message, data, now, id],
            )?;
            Ok(())
        }
        RepeatEntry::Add => {
            let message = lifecycle::text::repeat(count, why);
            add_event(c, alert_id, now, "deduplicated", &message, None, json!({"alert_count": count}))
        }
    }
}

pub fn events(c: &Read<'_>, alert_id: i64) -> Result<Vec<AlertEvent>> {
    c.rows("SELECT * FROM alert_events WHERE alert_id = ?1 ORDER BY id", args![alert_id], |r| {
        Ok(AlertEvent {
            id: r.get("id")?,
            event_type: r.get("event_type")?,
            message: r.get("message")?,
            actor: r.get("actor")?,
            created_at: r.get("created_at")?,
            data: r.json("data")?,
        })
    })
}
