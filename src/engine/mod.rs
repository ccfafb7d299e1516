//! The engine runs an ordered cycle — escalate → remind → dispatch → housekeeping — each step
//! isolated (a failing step is logged by name and the others still run). It sleeps until the
//! earliest due timer, a wake from this process, a change committed by another process
//! (`Db::watch_changes`), or `tick_seconds`. Timers are rows (`alerts.next_action_at`,
//! `deliveries.next_attempt_at`), so a restart or a failover loses nothing.
//!
//! Who runs it:
//! - SQLite: the one process holding `<database>.scheduler.lock`; others stand by.
//! - PostgreSQL: every process, with no leader. Work is claimed in the database, so two
//!   processes never do the same thing: alerts whose timer is due are claimed row by row
//!   (`FOR UPDATE SKIP LOCKED`), deliveries are leased (`store::outbox`), and the steps that
//!   work on many rows at once take a transaction-scoped advisory lock (`Step::lock_key`).
//!   A process that dies holds nothing: its row locks go with its connections and its leases
//!   expire, so another process picks its work up within a cycle.

pub mod actions;
pub mod dispatch;
pub mod escalate;
pub mod housekeeping;
pub mod message;
pub mod telegram;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use slog::{Logger, error, info, warn};
use tokio::sync::{Mutex, Notify};

use crate::clock::SharedClock;
use crate::config::Config;
pub use crate::domain::engine::Step;
use crate::domain::time::Ts;
use crate::store::{self, Db};

const ROLE_UNKNOWN: u8 = 0;
const ROLE_LEADER: u8 = 1;
const ROLE_STANDBY: u8 = 2;
const ROLE_DISABLED: u8 = 3;
/// PostgreSQL: runs the engine alongside the other processes.
const ROLE_SHARED: u8 = 4;

/// How often a standby process retries the lock (takeover within 5 s of the leader's death).
const LOCK_RETRY: Duration = Duration::from_secs(2);
/// How often the leader looks for commits by other processes.
const POLL: Duration = Duration::from_millis(200);
/// The shortest time between the starts of two cycles.
const MIN_CYCLE_GAP: Duration = Duration::from_millis(25);

#[derive(Debug, Default)]
struct Shared {
    wake: Notify,
    role: AtomicU8,
    /// When the last cycle completed (ms; 0 = never), by the injected clock.
    last_cycle: AtomicI64,
    /// Duration of the last cycle in microseconds.
    last_cycle_us: AtomicI64,
    /// Set when silences changed: housekeeping runs on the next cycle.
    recheck: std::sync::atomic::AtomicBool,
}

/// A cheap handle to wake the engine and read its status.
#[derive(Debug, Clone, Default)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

/// A snapshot of the engine's state.
#[derive(Debug, Clone, Copy)]
pub struct EngineStatus {
    role: u8,
    last_cycle_ms: i64,
    pub last_cycle_us: i64,
}

impl EngineStatus {
    pub fn known(&self) -> bool {
        self.role != ROLE_UNKNOWN
    }
    /// Whether this process runs the engine (the SQLite leader, or any PostgreSQL node).
    pub fn is_leader(&self) -> bool {
        self.role == ROLE_LEADER || self.role == ROLE_SHARED
    }
    pub fn role_name(&self) -> &'static str {
        match self.role {
            ROLE_LEADER => "leader",
            ROLE_STANDBY => "standby",
            ROLE_DISABLED => "disabled",
            ROLE_SHARED => "shared",
            _ => "starting",
        }
    }
    pub fn last_cycle_age_seconds(&self, now: Ts) -> Option<f64> {
        (self.is_leader() && self.last_cycle_ms > 0).then(|| (now.ms() - self.last_cycle_ms) as f64 / 1000.0)
    }
}

impl EngineHandle {
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }
    /// Silences changed: re-evaluate silenced and firing alerts on the next cycle.
    pub fn silences_changed(&self) {
        self.shared.recheck.store(true, Ordering::SeqCst);
        self.wake();
    }
    pub fn status(&self) -> EngineStatus {
        EngineStatus {
            role: self.shared.role.load(Ordering::SeqCst),
            last_cycle_ms: self.shared.last_cycle.load(Ordering::SeqCst),
            last_cycle_us: self.shared.last_cycle_us.load(Ordering::SeqCst),
        }
    }
    fn set_role(&self, role: u8) {
        self.shared.role.store(role, Ordering::SeqCst);
    }
}

/// What one cycle did: per step, the number of items handled or the error.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub steps: Vec<(&'static str, Result<usize, String>)>,
}

impl CycleReport {
    pub fn count(&self, step: &str) -> usize {
        self.steps.iter().find(|(n, _)| *n == step).and_then(|(_, r)| r.as_ref().ok().copied()).unwrap_or(0)
    }
    pub fn failed(&self) -> Vec<&'static str> {
        self.steps.iter().filter(|(_, r)| r.is_err()).map(|(n, _)| *n).collect()
    }
}

pub struct Engine {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub log: Logger,
    pub handle: EngineHandle,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub senders: Arc<crate::notify::Senders>,
    pub dispatcher: dispatch::Dispatcher,
    pub telegram: telegram::Registered,
    /// Cycles never overlap (the background loop and tests driving cycles share it).
    cycle: Mutex<()>,
    /// When the timed housekeeping (silence and flapping changes, expiry) runs next.
    housekeeping_due: AtomicI64,
    /// Set on shutdown: no delivery is claimed any more.
    pub(crate) stopping: Arc<AtomicBool>,
    /// This process among the others on the database (leases name their holder).
    pub node: String,
}

impl Engine {
    pub fn new(
        db: Db,
        config: Arc<Config>,
        clock: SharedClock,
        log: Logger,
        handle: EngineHandle,
        metrics: Arc<crate::metrics::Metrics>,
        senders: Arc<crate::notify::Senders>,
    ) -> Engine {
        Engine {
            db,
            config,
            clock,
            log,
            handle,
            metrics,
            senders,
            dispatcher: dispatch::Dispatcher::default(),
            telegram: telegram::Registered::default(),
            cycle: Mutex::new(()),
            housekeeping_due: AtomicI64::new(0),
            stopping: Arc::new(AtomicBool::new(false)),
            node: format!("node-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
        }
    }

    /// Whether shutdown began (nothing new is claimed).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// A graceful stop (SIGTERM): claims no more deliveries and lets the sends in flight finish
    /// and record their results, for at most `grace`. A restart then sends nothing twice;
    /// only a send still running after `grace` (or a crash) is retried, with the same
    /// `webhook-id`. Returns whether every send finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        tokio::time::timeout(grace, self.settle()).await.is_ok()
    }

    /// Waits for sends in flight (tests, shutdown).
    pub async fn settle(&self) {
        self.dispatcher.settle().await;
    }

    /// Puts rows a crashed process left `sending` back in the queue: all of them when this
    /// process is the only one sending (SQLite's leader, at start), else those whose lease
    /// expired.
    pub async fn requeue_interrupted(&self, all: bool) -> Result<usize, store::StoreError> {
        let now = self.clock.now();
        self.db.write(move |c| store::outbox::requeue_sending(c, now, !all)).await
    }

    /// Runs one ordered cycle now: escalate → remind → dispatch → housekeeping.
    pub async fn run_cycle(&self) -> CycleReport {
        let _guard = self.cycle.lock().await;
        let started = Instant::now();
        let now = self.clock.now();
        let mut report = CycleReport::default();
        report.steps.push(("escalate", escalate::escalate(self, now).await.map_err(|e| e.to_string())));
        report.steps.push(("remind", escalate::remind(self, now).await.map_err(|e| e.to_string())));
        // Deliveries a process that died (or hung) was sending go out again once their lease
        // expires.
        if let Err(e) = self.requeue_interrupted(false).await {
            report.steps.push(("requeue", Err(e.to_string())));
        }
        report.steps.push(("dispatch", dispatch::dispatch(self, now).await.map_err(|e| e.to_string())));
        let recheck = self.handle.shared.recheck.swap(false, Ordering::SeqCst);
        let hk = if recheck || now.ms() >= self.housekeeping_due.load(Ordering::SeqCst) {
            match housekeeping::run(self, now).await {
                Ok((n, next)) => {
                    let cap = now.plus_secs(60);
                    self.housekeeping_due.store(next.map_or(cap, |t| t.min(cap)).ms(), Ordering::SeqCst);
                    Ok(n)
                }
                Err(e) => {
                    self.housekeeping_due.store(now.plus_secs(5).ms(), Ordering::SeqCst);
                    Err(e)
                }
            }
        } else {
            Ok(0)
        };
        let indexed = housekeeping::index_search(self).await;
        report.steps.push(("housekeeping", hk.and_then(|n| indexed.map(|m| n + m)).map_err(|e| e.to_string())));
        for (name, result) in &report.steps {
            match result {
                Err(e) => error!(self.log, "engine step failed"; "step" => *name, "error" => e),
                Ok(n) => {
                    if let Some(step) = Step::ALL.into_iter().find(|s| s.as_str() == *name) {
                        self.metrics.engine_work(step, *n);
                    }
                }
            }
        }
        self.handle.shared.last_cycle.store(self.clock.now().ms(), Ordering::SeqCst);
        self.handle.shared.last_cycle_us.store(started.elapsed().as_micros() as i64, Ordering::SeqCst);
        self.metrics.engine_cycle.observe(started.elapsed().as_secs_f64());
        report
    }

    /// The earliest instant something is due.
    async fn next_due(&self) -> Option<Ts> {
        let hk = Ts::from_ms(self.housekeeping_due.load(Ordering::SeqCst));
        let timers = self
            .db
            .read(|c| {
                Ok([store::escalation::next_due(c)?, store::outbox::next_due(c)?, store::outbox::next_lease_expiry(c)?])
            })
            .await;
        let [alerts, deliveries, leases] = timers.unwrap_or_default();
        [Some(hk), alerts, deliveries, leases].into_iter().flatten().min()
    }
}

/// Starts the engine loop in the background (`enabled = false`: this process never leads).
pub fn start(engine: Arc<Engine>, enabled: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !enabled {
            engine.handle.set_role(ROLE_DISABLED);
            info!(engine.log, "scheduler disabled in this process: it serves HTTP only");
            return;
        }
        let path = engine.db.leader_lock();
        let mut told_standby = false;
        loop {
            match engine.db.try_lead() {
                Ok(Some(store::Leadership::Shared)) => {
                    engine.handle.set_role(ROLE_SHARED);
                    info!(engine.log, "this process runs the engine alongside the others on the database");
                    lead(&engine).await;
                }
                Ok(Some(lock)) => {
                    engine.handle.set_role(ROLE_LEADER);
                    info!(engine.log, "this process runs the engine"; "lock" => &path);
                    match engine.requeue_interrupted(true).await {
                        Ok(0) => {}
                        Ok(n) => info!(engine.log, "requeued deliveries interrupted by a crash"; "count" => n),
                        Err(e) => error!(engine.log, "cannot requeue interrupted deliveries"; "error" => e.to_string()),
                    }
                    lead(&engine).await;
                    drop(lock);
                }
                Ok(None) => {
                    engine.handle.set_role(ROLE_STANDBY);
                    if !told_standby {
                        info!(engine.log, "another process runs the engine; standing by"; "lock" => &path);
                        told_standby = true;
                    }
                }
                Err(e) => {
                    warn!(engine.log, "cannot open the scheduler lock"; "lock" => &path, "error" => e.to_string());
                }
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
    })
}

/// The engine's loop; returns only if the change watcher cannot be opened.
async fn lead(engine: &Arc<Engine>) {
    let handle = engine.handle.clone();
    let on_wake: store::WakeFn =
        Arc::new(move |silences| if silences { handle.silences_changed() } else { handle.wake() });
    let watcher = match engine.db.watch_changes(on_wake) {
        Ok(w) => Arc::new(w),
        Err(e) => {
            error!(engine.log, "cannot open the change watcher"; "error" => e.to_string());
            return;
        }
    };
    let mut version = data_version(&watcher).await;
    let tick = Duration::from_secs(engine.config.scheduler.tick_seconds);
    let poller = {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(telegram::POLL_EVERY).await;
                telegram::poll_once(&engine).await;
            }
        })
    };
    let _poller = AbortOnDrop(poller);
    let renewer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(dispatch::RENEW_EVERY).await;
                if let Err(e) = dispatch::renew_leases(&engine).await {
                    warn!(engine.log, "cannot renew delivery leases"; "error" => e.to_string());
                }
            }
        })
    };
    let _renewer = AbortOnDrop(renewer);
    let _cron = match start_cron(engine.clone()).await {
        Ok(s) => Some(s),
        Err(e) => {
            error!(engine.log, "cannot start the housekeeping scheduler; retention will not run"; "error" => e);
            None
        }
    };
    loop {
        let started = Instant::now();
        engine.run_cycle().await;
        let deadline = Instant::now() + sleep_for(engine, tick).await;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            tokio::select! {
                _ = engine.handle.shared.wake.notified() => break,
                _ = tokio::time::sleep(remaining.min(POLL)) => {
                    let v = data_version(&watcher).await;
                    if v != version {
                        version = v;
                        break;
                    }
                }
            }
        }
        // Under a stream of wakes, let work accumulate briefly so that one cycle handles many
        // alerts (and the writer is not flooded with cycles); far below the latency budget.
        let since = started.elapsed();
        if since < MIN_CYCLE_GAP {
            tokio::time::sleep(MIN_CYCLE_GAP - since).await;
        }
    }
}

/// Stops a background task when the leader loop ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Daily retention at 03:30 UTC, on the leader only.
async fn start_cron(engine: Arc<Engine>) -> Result<tokio_cron_scheduler::JobScheduler, String> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let sched = JobScheduler::new().await.map_err(|e| e.to_string())?;
    let job = Job::new_async("0 30 3 * * *", move |_, _| {
        let engine = engine.clone();
        Box::pin(async move {
            let now = engine.clock.now();
            if let Err(e) = housekeeping::retention(&engine, now).await {
                error!(engine.log, "retention failed"; "error" => e.to_string());
            }
        })
    })
    .map_err(|e| e.to_string())?;
    sched.add(job).await.map_err(|e| e.to_string())?;
    sched.start().await.map_err(|e| e.to_string())?;
    Ok(sched)
}

async fn sleep_for(engine: &Engine, tick: Duration) -> Duration {
    if engine.clock.is_manual() {
        return tick;
    }
    match engine.next_due().await {
        Some(due) => {
            let ms = due.ms() - engine.clock.now().ms();
            Duration::from_millis(ms.max(0) as u64).min(tick)
        }
        None => tick,
    }
}

async fn data_version(watcher: &Arc<store::ChangeWatcher>) -> i64 {
    let watcher = watcher.clone();
    tokio::task::spawn_blocking(move || watcher.version()).await.unwrap_or(0)
}
