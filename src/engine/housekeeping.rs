//! Housekeeping: expiring sessions and tokens and queueing shift notices (every minute, in the
//! cycle) and retention (daily,
//! by tokio-cron-scheduler on the leader): resolved alerts older than
//! `[retention] resolved_alert_days` with their events and deliveries, audit rows older than
//! `[retention] audit_log_days`, replay-protection ids older than a day. Open alerts are never
//! deleted.

use slog::info;

use super::{Engine, Step};
use crate::domain::time::Ts;
use crate::store::{self, StoreError};

/// Advisory locks of the parts that are not cycle steps (see `Step::lock_key`).
const SEARCH_LOCK: i64 = 0x4952_4510;
const RETENTION_LOCK: i64 = 0x4952_4511;
/// New alerts (and queued changes) indexed for search per engine cycle.
const SEARCH_BATCH: usize = 2_000;
/// Resolved alerts deleted per retention transaction.
const RETENTION_BATCH: usize = 2_000;

/// The timed part of the cycle: silences that started or ended, flapping alerts that became
/// stable, expired sessions and tokens. Returns the number of changes and when the next
/// silence or flapping change is due.
pub async fn run(engine: &Engine, now: Ts) -> Result<(usize, Option<Ts>), StoreError> {
    let window = engine.config.alerts.flap_window_seconds;
    let zone = engine.config.ui.default_time_zone.clone();
    let changed = engine
        .db
        .write(move |c| {
            if !store::try_step_lock(c, Step::Housekeeping.lock_key())? {
                return Ok(None);
            }
            let a = store::lifecycle::apply_silences(c, now)?;
            let b = store::lifecycle::end_flapping(c, now, window)?;
            store::tokens::purge_expired(c, now)?;
            let notices = store::contacts::queue_shift_notices(c, now, &zone)?;
            Ok(Some(a + b + notices))
        })
        .await?;
    engine.metrics.engine_lock(Step::Housekeeping, changed.is_some());
    // Another process is doing it: look again in a moment.
    let Some(changed) = changed else { return Ok((0, Some(now.plus_secs(1)))) };
    if changed > 0 {
        engine.handle.wake();
    }
    let next = engine.db.read(move |c| store::alerts::next_silence_or_flap_change(c, now, window)).await?;
    Ok((changed, next))
}

/// Brings the search index up to date (every cycle; intake leaves this to the engine to stay
/// fast): new alerts, and changes queued for it (see `store::alerts::index_search`). On
/// SQLite it runs on the index's own file and connection, beside the writer thread. One batch
/// a cycle, so that a long backlog (the index rebuilt under a million alerts) never holds up
/// the cycle's deliveries and escalations: with more to do, the engine runs again at once.
/// Returns how many new alerts were indexed.
pub async fn index_search(engine: &Engine) -> Result<usize, StoreError> {
    if !engine.db.read(store::alerts::search_backlog).await? {
        return Ok(0);
    }
    let run = engine
        .db
        .write_search(|c| {
            if !store::try_step_lock(c, SEARCH_LOCK)? {
                return Ok(None);
            }
            store::alerts::index_search(c, SEARCH_BATCH).map(Some)
        })
        .await?;
    let Some(run) = run else { return Ok(0) };
    if !run.queued.is_empty() {
        engine.db.write(move |c| store::alerts::forget_queued(c, &run.queued)).await?;
    }
    if run.more {
        engine.handle.wake();
    }
    Ok(run.alerts)
}

/// What a retention run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub alerts: usize,
    pub audit_logs: usize,
    pub webhook_ids: usize,
}

/// The daily part: retention.
pub async fn retention(engine: &Engine, now: Ts) -> Result<Retention, StoreError> {
    let alert_cutoff = now.plus_secs(-i64::from(engine.config.retention.resolved_alert_days) * 86_400);
    let audit_cutoff = now.plus_secs(-i64::from(engine.config.retention.audit_log_days) * 86_400);
    // Alerts go in batches, each its own transaction: intake's writes wait for none of them
    // long, and the undo journal SQLite keeps in memory for a write stays small (src/main.rs).
    // One process at a time; another that comes after finds nothing left to delete.
    let mut alerts = 0;
    loop {
        let deleted = engine
            .db
            .write(move |c| {
                if !store::try_step_lock(c, RETENTION_LOCK)? {
                    return Ok(None);
                }
                store::alerts::purge_resolved_before(c, alert_cutoff, RETENTION_BATCH).map(Some)
            })
            .await?;
        match deleted {
            Some(n) => alerts += n,
            None => return Ok(Retention::default()),
        }
        if deleted < Some(RETENTION_BATCH) {
            break;
        }
    }
    let r = engine
        .db
        .write(move |c| {
            if !store::try_step_lock(c, RETENTION_LOCK)? {
                return Ok(Retention::default());
            }
            // Change events are kept as long as resolved alerts.
            store::changes::purge_before(c, alert_cutoff)?;
            let audit_logs = store::audit::purge_before(c, audit_cutoff)?;
            let webhook_ids = store::routes::purge_webhook_ids_before(c, now.plus_secs(-86_400))?;
            store::optimize(c)?;
            Ok(Retention { alerts, audit_logs, webhook_ids })
        })
        .await?;
    info!(engine.log, "retention"; "alerts_deleted" => r.alerts, "audit_logs_deleted" => r.audit_logs, "webhook_ids_deleted" => r.webhook_ids);
    Ok(r)
}
