//! An alert's timeline: what happened to it, in order, in words (`alert_events`).

use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Read, Result, Tx, json_col};
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
    let mut st = c.prepare_cached(
        "INSERT INTO alert_events (alert_id, event_type, message, actor, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    st.execute(params![alert_id, event_type, message, actor, data.to_string(), now])?;
    Ok(())
}

/// Repeats are one timeline entry, not one entry per repeat. During a burst the entry is
/// refreshed at most every `domain::lifecycle::REPEAT_REFRESH_SECS` (each refresh dirties a
/// page); the exact count is always the alert's `alert_count`.
pub fn repeat_event(c: &Tx<'_>, alert_id: i64, now: Ts, count: i64, why: &str) -> Result<()> {
    let message = lifecycle::text::repeat(count, why);
    let data = json!({"alert_count": count}).to_string();
    let latest: Option<(i64, String, Ts)> = c
        .prepare_cached(
            "SELECT id, event_type, created_at FROM alert_events WHERE alert_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([alert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match lifecycle::repeat_entry(latest.as_ref().map(|(id, t, at)| (*id, t.as_str(), *at)), now) {
        RepeatEntry::Keep => Ok(()),
        RepeatEntry::Refresh(id) => {
            c.prepare_cached("UPDATE alert_events SET message = ?1, data = ?2, created_at = ?3 WHERE id = ?4")?
                .execute(params![message, data, now, id])?;
            Ok(())
        }
        RepeatEntry::Add => add_event(c, alert_id, now, "deduplicated", &message, None, json!({"alert_count": count})),
    }
}

pub fn events(c: &Read<'_>, alert_id: i64) -> Result<Vec<AlertEvent>> {
    let mut st = c.prepare("SELECT * FROM alert_events WHERE alert_id = ?1 ORDER BY id")?;
    let rows = st.query_map([alert_id], |r| {
        Ok(AlertEvent {
            id: r.get("id")?,
            event_type: r.get("event_type")?,
            message: r.get("message")?,
            actor: r.get("actor")?,
            created_at: r.get("created_at")?,
            data: json_col(r, "data")?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
