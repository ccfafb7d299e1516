//! Change events of a team (PagerDuty Change Events): recorded by intake, listed beside the
//! team's alerts, deleted by retention with resolved alerts.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::sql::Row;
use super::{Read, Result, Tx, to_json};
use crate::args;
use crate::domain::alert::{AlertImage, AlertLink};
use crate::domain::change::IncomingChange;
use crate::domain::time::Ts;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChangeEvent {
    pub id: i64,
    pub team_id: i64,
    /// The route it came through (`null` once the route is deleted).
    pub route_id: Option<i64>,
    pub summary: String,
    pub source: String,
    /// When it happened, as the sender said (else when it arrived).
    pub happened_at: Ts,
    /// The sender's `custom_details`.
    pub details: Value,
    pub links: Vec<AlertLink>,
    pub images: Vec<AlertImage>,
    pub created_at: Ts,
}

fn row(r: &Row<'_>) -> Result<ChangeEvent> {
    Ok(ChangeEvent {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        route_id: r.get("route_id")?,
        summary: r.get("summary")?,
        source: r.get("source")?,
        happened_at: r.get("happened_at")?,
        details: r.json("details")?,
        links: r.json("links")?,
        images: r.json("images")?,
        created_at: r.get("created_at")?,
    })
}

/// Records a change for a team; its id.
pub fn record(c: &Tx<'_>, now: Ts, team_id: i64, route_id: Option<i64>, ch: &IncomingChange) -> Result<i64> {
    c.insert(
        "INSERT INTO change_events (team_id, route_id, summary, source, happened_at, details, links, images, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        args![
            team_id,
            route_id,
            ch.summary,
            ch.source,
            ch.happened_at.unwrap_or(now),
            ch.details.to_string(),
            to_json(&ch.links),
            to_json(&ch.images),
            now
        ],
    )
}

/// A team's changes that happened in `[from, to]`, newest first, at most `limit`.
pub fn of_team(c: &Read<'_>, team_id: i64, from: Ts, to: Ts, limit: i64) -> Result<Vec<ChangeEvent>> {
    c.rows(
        "SELECT * FROM change_events WHERE team_id = ?1 AND happened_at >= ?2 AND happened_at <= ?3
         ORDER BY happened_at DESC, id DESC LIMIT ?4",
        args![team_id, from, to, limit.clamp(1, 500)],
        row,
    )
}

/// Deletes changes that happened before `cutoff`; how many.
pub fn purge_before(c: &Tx<'_>, cutoff: Ts) -> Result<usize> {
    c.exec("DELETE FROM change_events WHERE happened_at < ?1", args![cutoff])
}
