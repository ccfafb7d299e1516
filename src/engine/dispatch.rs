//! The dispatch step: claim due outbox rows and send each in its own task, outside any
//! transaction, with at most `[delivery] concurrency_per_channel` in flight per channel (a slow
//! or dead provider never holds up the others). Results are recorded as they come: sent (with
//! the provider's message id for later edits), retry later (exponential backoff with jitter,
//! never sooner than the provider's `Retry-After`), or dead (a permanent error, or the retry
//! time budget `delivery.retry_for_seconds` spent). A page given up on is shown on the alert and
//! announced to the team's other channels. The cycle does not wait for sends; each finished
//! send wakes the engine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use slog::{Logger, error, warn};

use super::{Engine, EngineHandle};
use crate::clock::SharedClock;
use crate::domain::alert::AlertStatus;
use crate::domain::time::Ts;
use crate::metrics::Metrics;
use crate::notify::{NotifyError, Senders};
use crate::store::outbox::{self, Claimed, Prepared};
use crate::store::timeline::add_event;
use crate::store::{Db, StoreError};

/// Claims per cycle (a finished send claims its channel's next due row itself).
const CLAIM_BATCH: usize = 200;
/// Longest wait between attempts.
const MAX_BACKOFF_SECS: i64 = 3600;
/// First retry delay; doubles per attempt.
const BASE_BACKOFF_SECS: i64 = 10;

/// Seconds until the next attempt after `attempts` failed ones: 10 s × 2ⁿ ±20 % up to an hour,
/// and never sooner than the provider's `Retry-After` (a short one is honoured, but it does not
/// make the retries come faster than the backoff).
pub fn backoff_secs(attempts: i64, retry_after: Option<u64>, jitter: f64) -> i64 {
    let exp = BASE_BACKOFF_SECS.saturating_mul(1i64 << (attempts - 1).clamp(0, 20));
    let jittered = (exp.min(MAX_BACKOFF_SECS) as f64 * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))) as i64;
    let asked = retry_after.map_or(0, |s| s.min(MAX_BACKOFF_SECS as u64) as i64);
    jittered.max(asked).clamp(1, MAX_BACKOFF_SECS)
}

/// How long failing notifications are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The time budget from queueing (`delivery.retry_for_seconds`).
    pub retry_for_secs: i64,
    /// An attempt limit (`delivery.max_attempts`; 0 = none).
    pub max_attempts: i64,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterFailure {
    Retry(Ts),
    GiveUp(String),
}

/// Decides what follows the `attempts`-th failed attempt of a message queued at `queued`:
/// permanent errors give up at once; retryable ones back off until the time budget (or the
/// attempt limit) is spent.
pub fn after_failure(
    err: &NotifyError,
    queued: Ts,
    now: Ts,
    attempts: i64,
    policy: RetryPolicy,
    jitter: f64,
) -> AfterFailure {
    let (message, retry_after) = match err {
        NotifyError::Permanent(m) => return AfterFailure::GiveUp(m.clone()),
        NotifyError::Retryable { message, retry_after } => (message, *retry_after),
    };
    let spent = now.secs_since(queued);
    if spent >= policy.retry_for_secs {
        return AfterFailure::GiveUp(format!("gave up after {attempts} attempts in {spent} s: {message}"));
    }
    if policy.max_attempts > 0 && attempts >= policy.max_attempts {
        return AfterFailure::GiveUp(format!("gave up after {attempts} attempts: {message}"));
    }
    AfterFailure::Retry(now.plus_secs(backoff_secs(attempts, retry_after, jitter)))
}

/// The dispatcher's in-memory state: sends in flight per channel, the claims this process
/// holds (their leases are renewed while it lives), and the send tasks.
#[derive(Default)]
pub struct Dispatcher {
    in_flight: Arc<Mutex<HashMap<i64, usize>>>,
    held: Arc<Mutex<HashMap<i64, outbox::Attempt>>>,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// How long a claim holds a delivery without renewal. This process renews the claims it holds
/// every [`RENEW_EVERY`]; a process that dies (or loses the database) stops renewing, and its
/// rows go out again from another process within this time (same `webhook-id`).
pub const LEASE_SECS: i64 = 3;
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Dispatcher {
    /// The claims held now.
    fn held(&self) -> Vec<outbox::Attempt> {
        self.held.lock().map(|m| m.values().copied().collect()).unwrap_or_default()
    }
}

/// Extends the leases of the deliveries this process is sending; returns how many it still
/// holds.
pub async fn renew_leases(engine: &Engine) -> Result<usize, StoreError> {
    let held = engine.dispatcher.held();
    if held.is_empty() {
        return Ok(0);
    }
    let until = engine.clock.now().plus_secs(LEASE_SECS);
    engine.db.write(move |c| outbox::renew(c, until, &held)).await
}

#[derive(Clone)]
struct Ctx {
    db: Db,
    senders: Arc<Senders>,
    metrics: Arc<Metrics>,
    log: Logger,
    handle: EngineHandle,
    clock: SharedClock,
    retry: RetryPolicy,
    in_flight: Arc<Mutex<HashMap<i64, usize>>>,
    held: Arc<Mutex<HashMap<i64, outbox::Attempt>>>,
    /// Shutdown began: a finished send records its result but claims nothing more.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The installation's settings people's own contact methods use (`telegram.*`, `phone.*`).
    config: Arc<crate::config::Config>,
}

impl Dispatcher {
    /// Waits for every send in flight to finish (tests; graceful shutdown).
    pub async fn settle(&self) {
        let mut tasks = self.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }
}

/// The dispatch step: returns how many deliveries were started.
pub async fn dispatch(engine: &Engine, now: Ts) -> Result<usize, StoreError> {
    if engine.stopping() {
        return Ok(0);
    }
    let limit = engine.config.delivery.concurrency_per_channel;
    let snapshot: HashMap<i64, usize> = engine.dispatcher.in_flight.lock().map(|m| m.clone()).unwrap_or_default();
    let claimed = engine
        .db
        .write(move |c| {
            let free = |ch| limit.saturating_sub(snapshot.get(&ch).copied().unwrap_or(0));
            outbox::claim(c, now, LEASE_SECS, CLAIM_BATCH, &free)
        })
        .await?;
    engine.metrics.claims("delivery", claimed.len());
    let n = claimed.len();
    if n == 0 {
        return Ok(0);
    }
    let ctx = Ctx {
        db: engine.db.clone(),
        senders: engine.senders.clone(),
        metrics: engine.metrics.clone(),
        log: engine.log.clone(),
        handle: engine.handle.clone(),
        clock: engine.clock.clone(),
        retry: RetryPolicy {
            retry_for_secs: engine.config.delivery.retry_for_seconds as i64,
            max_attempts: i64::from(engine.config.delivery.max_attempts),
        },
        in_flight: engine.dispatcher.in_flight.clone(),
        held: engine.dispatcher.held.clone(),
        stopping: engine.stopping.clone(),
        config: engine.config.clone(),
    };
    let mut tasks = engine.dispatcher.tasks.lock().await;
    while tasks.try_join_next().is_some() {}
    for c in claimed {
        ctx.hold(&c);
        let ch = c.delivery.sender_key();
        if let Ok(mut m) = ctx.in_flight.lock() {
            *m.entry(ch).or_insert(0) += 1;
        }
        let ctx = ctx.clone();
        tasks.spawn(async move {
            // The slot stays taken while this channel has due rows: a finished send picks up
            // the channel's next one without waiting for the next engine cycle.
            let mut next = Some(c);
            while let Some(c) = next.take() {
                let (id, attempt) = (c.delivery.id, c.delivery.attempt());
                let result = deliver(&ctx, c, ch).await;
                ctx.release(id);
                match result {
                    Ok(following) => {
                        if let Some(f) = &following {
                            ctx.hold(f);
                        }
                        next = following;
                    }
                    Err(e) => {
                        error!(ctx.log, "delivery bookkeeping failed; the row is retried"; "delivery_id" => id, "error" => e.to_string());
                        let now = ctx.clock.now();
                        let retry_at = now.plus_secs(BASE_BACKOFF_SECS);
                        let _ = ctx
                            .db
                            .write(move |c| outbox::mark_retry(c, now, attempt, &format!("internal: {e}"), retry_at))
                            .await;
                    }
                }
            }
            if let Ok(mut m) = ctx.in_flight.lock()
                && let Some(v) = m.get_mut(&ch)
            {
                *v = v.saturating_sub(1);
            }
            ctx.handle.wake();
        });
    }
    Ok(n)
}

/// Why a page must not go out any more.
fn cancelled(p: &Prepared) -> Option<&'static str> {
    let a = p.alert.as_ref()?;
    if !p.delivery.event_type.is_page() {
        return None;
    }
    match a.status {
        AlertStatus::Acknowledged => Some("cancelled: the alert was acknowledged before this page went out"),
        AlertStatus::Resolved => Some("cancelled: the alert was resolved before this page went out"),
        AlertStatus::Silenced => Some("cancelled: the alert was silenced before this page went out"),
        AlertStatus::Firing => None,
    }
}

impl Ctx {
    /// This process holds the claim now (its lease is renewed).
    fn hold(&self, c: &Claimed) {
        if let Ok(mut m) = self.held.lock() {
            m.insert(c.delivery.id, c.delivery.attempt());
        }
    }

    fn release(&self, id: i64) {
        if let Ok(mut m) = self.held.lock() {
            m.remove(&id);
        }
    }

    /// Records what became of a delivery and claims the channel's next due row, in one write.
    async fn record(
        &self,
        channel_id: i64,
        result: impl FnOnce(&crate::store::Tx<'_>) -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<Option<Claimed>, StoreError> {
        let (clock, stopping) = (self.clock.clone(), self.stopping.clone());
        self.db
            .write(move |c| {
                result(c)?;
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return Ok(None);
                }
                outbox::claim_next(c, clock.now(), LEASE_SECS, channel_id)
            })
            .await
            .inspect(|next| {
                if next.is_some() {
                    self.metrics.claims("delivery", 1);
                }
            })
    }
}

/// Sends one claimed delivery and records the outcome; returns the channel's next due row,
/// already claimed, for the same sender to take.
async fn deliver(ctx: &Ctx, claimed: Claimed, ch: i64) -> Result<Option<Claimed>, StoreError> {
    let (id, attempt) = (claimed.delivery.id, claimed.delivery.attempt());
    let prepared = ctx.db.read(move |c| outbox::prepare(c, &claimed)).await?;
    let now = ctx.clock.now();
    let Some(p) = prepared else {
        return ctx.record(ch, move |c| outbox::mark_dead(c, now, attempt, "the channel or alert was deleted")).await;
    };
    if let Some(why) = cancelled(&p) {
        return ctx.record(ch, move |c| outbox::mark_dead(c, now, attempt, why)).await;
    }
    let msg = super::message::message(&ctx.senders, &p, now);
    let senders = ctx.senders.clone();
    let (kind, config, channel_id) = (p.channel_kind, p.config.clone(), p.delivery.sender_key());
    let edit = p.edit_message_id.clone().filter(|_| kind.edits(&config));
    let (personal, installation) = (p.contact_method.clone(), ctx.config.clone());
    let outcome = tokio::task::spawn_blocking(move || match personal {
        // A person's own contact method (a notification rule).
        Some(m) => crate::notify::personal::send(&m, &installation, &senders.env(channel_id), &msg),
        None => kind.send(&config, &senders.env(channel_id), &msg, edit.as_deref()),
    })
    .await
    .unwrap_or_else(|e| Err(NotifyError::retry(format!("send task failed: {e}"))));
    let done = ctx.clock.now();
    // Metrics name a personal delivery by its method (`personal_sms`, …).
    let kind_name: &'static str = match p.contact_method.as_ref().map(|m| m.method_type) {
        Some(t) => crate::domain::contact::MethodType::metric_name(t),
        None => kind.as_str(),
    };
    let target = p.delivery.target.clone();
    let (event, alert_id) = (p.delivery.event_type, p.delivery.alert_id);
    match outcome {
        Ok(sent) => {
            ctx.metrics.delivery(kind_name, "sent");
            ctx.metrics.delivery_latency.observe(done.ms().saturating_sub(p.delivery.created_at.ms()) as f64 / 1000.0);
            let delivery = p.delivery.clone();
            // A claim that expired meanwhile records nothing: the row's new claim does.
            ctx.record(ch, move |c| outbox::record_sent(c, done, &delivery, &sent)).await
        }
        Err(e) => {
            let attempts = p.delivery.attempts;
            let jitter = f64::from(crate::crypto::random_bytes::<1>().map(|b| b[0]).unwrap_or(128)) / 255.0;
            match after_failure(&e, p.delivery.created_at, done, attempts, ctx.retry, jitter) {
                AfterFailure::Retry(next) => {
                    ctx.metrics.delivery(kind_name, "retry");
                    warn!(ctx.log, "delivery failed; will retry"; "delivery_id" => id, "channel" => &target, "attempt" => attempts, "error" => e.message(), "next_attempt_at" => next.rfc3339());
                    let msg = e.message().to_string();
                    ctx.record(ch, move |c| outbox::mark_retry(c, done, attempt, &msg, next)).await
                }
                AfterFailure::GiveUp(why) => {
                    ctx.metrics.delivery(kind_name, "dead");
                    if event.is_page() {
                        ctx.metrics.undelivered(kind_name, event.as_str());
                    }
                    warn!(ctx.log, "delivery failed permanently"; "delivery_id" => id, "channel" => &target, "error" => &why);
                    let failed = p.delivery;
                    ctx.record(ch, move |c| {
                        let held = outbox::mark_dead(c, done, attempt, &why)?;
                        if let Some(a) = alert_id.filter(|_| held) {
                            let notices = outbox::notify_undelivered(c, done, &failed, &why)?;
                            let told = match (event.is_page(), notices) {
                                (false, _) => String::new(),
                                (true, 0) => "; the team has no other channel to tell".into(),
                                (true, n) => format!(
                                    "; {} of the team are told",
                                    crate::domain::count(n as i64, "other channel")
                                ),
                            };
                            add_event(
                                c,
                                a,
                                done,
                                "delivery_failed",
                                &format!("{} via {target} failed: {why}{told}", event.as_str()),
                                None,
                                json!({"delivery_id": id, "notices": notices}),
                            )?;
                        }
                        Ok(held)
                    })
                    .await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        assert_eq!(backoff_secs(1, None, 0.5), 10);
        assert_eq!(backoff_secs(2, None, 0.5), 20);
        assert_eq!(backoff_secs(3, None, 0.0), 32, "-20% jitter");
        assert_eq!(backoff_secs(3, None, 1.0), 48, "+20% jitter");
        assert_eq!(backoff_secs(30, None, 0.5), 3600, "capped");
        assert_eq!(backoff_secs(1, Some(120), 0.5), 120);
        assert_eq!(backoff_secs(1, Some(0), 0.5), 10, "a short Retry-After never speeds retries up");
        assert_eq!(backoff_secs(3, Some(1), 0.5), 40);
        assert_eq!(backoff_secs(1, Some(999_999), 0.5), 3600);
    }

    #[test]
    fn retries_last_for_the_time_budget_not_a_number_of_attempts() {
        let policy = RetryPolicy { retry_for_secs: 86_400, max_attempts: 0 };
        let queued = Ts::from_secs(1_000_000);
        let busy = NotifyError::Retryable { message: "HTTP 503".into(), retry_after: Some(1) };
        // A provider answering 503 + Retry-After: 1 for a day: retried all along, then given up.
        let (mut now, mut attempts) = (queued, 1);
        while let AfterFailure::Retry(next) = after_failure(&busy, queued, now, attempts, policy, 0.5) {
            assert!(next.secs_since(now) >= 10, "never faster than the backoff");
            now = next;
            attempts += 1;
        }
        assert!(now.secs_since(queued) >= 86_400, "the whole budget is used");
        assert!((25..=40).contains(&attempts), "about 30 attempts in a day, got {attempts}");
        let gave_up = after_failure(&busy, queued, now, attempts, policy, 0.5);
        assert!(
            matches!(&gave_up, AfterFailure::GiveUp(m) if m.starts_with(&format!("gave up after {attempts} attempts in ")))
        );
        // An 8-second outage is nowhere near the budget.
        assert_eq!(
            after_failure(&busy, queued, queued.plus_secs(8), 8, policy, 0.5),
            AfterFailure::Retry(queued.plus_secs(8 + 1280))
        );
        // Permanent errors give up at once; an attempt limit, when set, gives up sooner.
        let bad = NotifyError::Permanent("HTTP 400: no such channel".into());
        assert_eq!(
            after_failure(&bad, queued, queued, 1, policy, 0.5),
            AfterFailure::GiveUp("HTTP 400: no such channel".into())
        );
        let limited = RetryPolicy { max_attempts: 3, ..policy };
        assert!(matches!(after_failure(&busy, queued, queued, 3, limited, 0.5), AfterFailure::GiveUp(_)));
        assert!(matches!(after_failure(&busy, queued, queued, 2, limited, 0.5), AfterFailure::Retry(_)));
    }
}
