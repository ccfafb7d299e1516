//! The escalate and remind steps: alerts whose `next_action_at` is due get their next policy
//! step (escalate) or their reminder / simple-mode escalation (remind). Each alert is its own
//! write job (its own savepoint in the group commit), so one failing alert does not hold up
//! the others; every job re-checks the alert's state, so an alert acknowledged meanwhile is
//! left alone.

use futures_util::future::join_all;
use slog::error;

use super::Engine;
use crate::domain::time::Ts;
use crate::store::{StoreError, escalation};

const BATCH: usize = 500;

async fn run(engine: &Engine, now: Ts, policy: bool) -> Result<usize, StoreError> {
    let due = engine.db.read(move |c| escalation::due(c, now, BATCH)).await?;
    let jobs = due.into_iter().filter(|(_, has_policy)| *has_policy == policy).map(|(id, _)| {
        engine.db.write(
            move |c| if policy { escalation::escalate_one(c, now, id) } else { escalation::remind_one(c, now, id) },
        )
    });
    let mut done = 0;
    for (i, r) in join_all(jobs).await.into_iter().enumerate() {
        match r {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => {
                error!(engine.log, "alert timer failed"; "step" => if policy { "escalate" } else { "remind" }, "item" => i, "error" => e.to_string())
            }
        }
    }
    if done > 0 {
        engine.metrics.claims("alert", done);
        engine.handle.wake();
    }
    Ok(done)
}

/// Escalation policies: the next rule of every due alert.
pub async fn escalate(engine: &Engine, now: Ts) -> Result<usize, StoreError> {
    run(engine, now, true).await
}

/// Simple mode: reminders and escalation to the next rotation member.
pub async fn remind(engine: &Engine, now: Ts) -> Result<usize, StoreError> {
    run(engine, now, false).await
}
