//! Alerts, their timeline events, and the lifecycle decisions that need the database.

use rusqlite::Connection;

use super::Result;
use crate::domain::time::Ts;

/// Deletes resolved alerts (with their events and deliveries) resolved before `cutoff`.
/// Open alerts are never deleted.
pub fn purge_resolved_before(c: &Connection, cutoff: Ts) -> Result<usize> {
    Ok(c.execute("DELETE FROM alerts WHERE status = 'resolved' AND resolved_at IS NOT NULL AND resolved_at < ?1", [cutoff])?)
}
