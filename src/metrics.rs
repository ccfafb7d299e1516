//! Prometheus metrics, kept in memory and rendered in the text exposition format at
//! `GET /metrics`. Gauges that live in the database (open alerts, pending deliveries) are read
//! when rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::alert::Source;
use crate::domain::channel::ChannelKind;
use crate::domain::engine::Step;
use crate::domain::lifecycle::{IntakeResult, Outcome};
use crate::domain::message::EventKind;

/// A histogram with fixed buckets (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

pub const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, secs: f64) {
        let secs = secs.max(0.0);
        for (i, b) in self.bounds.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in self.bounds.iter().enumerate() {
            let _ =
                writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let n = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {n}");
    }
}

/// Buckets for the database's flushes: a local SSD takes tens of microseconds, a network disk
/// milliseconds.
pub const FLUSH_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// How the SQLite database's flushes went (`db-sync`, `database.synchronous = "full"`): each
/// flush makes every write committed before it durable, and intake answers no write before its
/// flush. So the flush time, the writes per flush and the share of time spent flushing show
/// whether the disk limits durable intake.
#[derive(Debug)]
pub struct FlushStats {
    seconds: Histogram,
    writes: AtomicU64,
}

impl Default for FlushStats {
    fn default() -> Self {
        FlushStats { seconds: Histogram::new(FLUSH_BUCKETS), writes: AtomicU64::new(0) }
    }
}

impl FlushStats {
    /// One flush that took `secs` and made `writes` writes durable.
    pub fn flushed(&self, secs: f64, writes: usize) {
        self.seconds.observe(secs);
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
    }

    /// Flushes so far, failed ones included.
    pub fn flushes(&self) -> u64 {
        self.seconds.count()
    }

    /// Writes made durable so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// Counters over two fixed label sets: a grid of atomics, no allocation or lock per update.
#[derive(Debug)]
struct Grid {
    rows: Vec<&'static str>,
    cols: Vec<&'static str>,
    cells: Vec<AtomicU64>,
}

/// A label's values: every name an enum has, and `other` for anything else.
fn values<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|x| name(*x)).chain(["other"]).collect()
}

impl Grid {
    fn new(rows: Vec<&'static str>, cols: Vec<&'static str>) -> Grid {
        let cells = (0..rows.len() * cols.len()).map(|_| AtomicU64::new(0)).collect();
        Grid { rows, cols, cells }
    }
    /// Counts one under (`row`, `col`); unknown names count under the last entry ("other").
    fn add(&self, row: &str, col: &str) {
        self.add_n(row, col, 1);
    }
    fn add_n(&self, row: &str, col: &str, n: u64) {
        let r = self.rows.iter().position(|x| *x == row).unwrap_or(self.rows.len() - 1);
        let c = self.cols.iter().position(|x| *x == col).unwrap_or(self.cols.len() - 1);
        self.cells[r * self.cols.len() + c].fetch_add(n, Ordering::Relaxed);
    }
    fn render(&self, out: &mut String, name: &str, row_label: &str, col_label: &str) {
        for (ri, r) in self.rows.iter().enumerate() {
            for (ci, c) in self.cols.iter().enumerate() {
                let n = self.cells[ri * self.cols.len() + ci].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(out, "{name}{{{row_label}=\"{r}\",{col_label}=\"{c}\"}} {n}");
                }
            }
        }
    }
}

const DELIVERY_OUTCOMES: &[&str] = &["sent", "retry", "dead", "other"];
/// Whether this process got a step's lock (PostgreSQL: another process may hold it).
const LOCK_OUTCOMES: &[&str] = &["won", "busy", "other"];
/// What the engine claims: deliveries to send, alerts to escalate or remind.
const CLAIM_KINDS: &[&str] = &["delivery", "alert", "other"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "other"];
const STATUS_CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[derive(Debug)]
pub struct Metrics {
    alerts_received: Grid,
    deliveries: Grid,
    undelivered: Grid,
    http_requests: Grid,
    engine_work: Grid,
    engine_locks: Grid,
    engine_claims: Grid,
    pub delivery_latency: Histogram,
    pub http_latency: Histogram,
    pub engine_cycle: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            alerts_received: Grid::new(values(&Source::ALL, Source::as_str), values(&Outcome::ALL, Outcome::as_str)),
            deliveries: Grid::new(values(&ChannelKind::ALL, ChannelKind::as_str), DELIVERY_OUTCOMES.to_vec()),
            undelivered: Grid::new(
                values(&ChannelKind::ALL, ChannelKind::as_str),
                values(&EventKind::PAGES, EventKind::as_str),
            ),
            http_requests: Grid::new(METHODS.to_vec(), STATUS_CLASSES.to_vec()),
            engine_work: Grid::new(values(&Step::ALL, Step::as_str), vec!["items"]),
            engine_locks: Grid::new(values(&Step::ALL, Step::as_str), LOCK_OUTCOMES.to_vec()),
            engine_claims: Grid::new(CLAIM_KINDS.to_vec(), vec!["won"]),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            http_latency: Histogram::new(LATENCY_BUCKETS),
            engine_cycle: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

/// Gauges read from the database and the engine when rendering.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub open_alerts: Vec<(String, i64)>,
    pub deliveries_by_status: Vec<(String, String, i64)>,
    pub leader: bool,
    pub last_cycle_age_seconds: Option<f64>,
    /// Transactions run again after a conflict with another process (PostgreSQL).
    pub store_retries: u64,
    /// The SQLite database's flushes, when writes wait for them.
    pub flushes: Option<std::sync::Arc<FlushStats>>,
}

impl Metrics {
    pub fn intake(&self, source: &str, results: &[IntakeResult]) {
        for r in results {
            self.alerts_received.add(source, r.outcome.as_str());
        }
    }

    pub fn delivery(&self, channel_type: &str, outcome: &str) {
        self.deliveries.add(channel_type, outcome);
    }

    /// A page was given up on.
    pub fn undelivered(&self, channel_type: &str, event: &str) {
        self.undelivered.add(channel_type, event);
    }

    /// Items an engine step handled in this process.
    pub fn engine_work(&self, step: Step, n: usize) {
        self.engine_work.add_n(step.as_str(), "items", n as u64);
    }

    /// Whether this process got a step's lock.
    pub fn engine_lock(&self, step: Step, won: bool) {
        self.engine_locks.add(step.as_str(), if won { "won" } else { "busy" });
    }

    /// Rows this process claimed (`delivery` or `alert`).
    pub fn claims(&self, kind: &str, n: usize) {
        self.engine_claims.add_n(kind, "won", n as u64);
    }

    pub fn http(&self, method: &str, status: u16, secs: f64) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            5 => "5xx",
            _ => "other",
        };
        self.http_requests.add(method, class);
        self.http_latency.observe(secs);
    }

    pub fn render(&self, snap: &Snapshot) -> String {
        let mut out = String::with_capacity(8192);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "incidentrelay_alerts_received_total",
            "counter",
            "Alerts received by intake, by source and outcome.",
        );
        self.alerts_received.render(&mut out, "incidentrelay_alerts_received_total", "source", "outcome");
        head(&mut out, "incidentrelay_open_alerts", "gauge", "Open alerts by status.");
        for (status, n) in &snap.open_alerts {
            let _ = writeln!(out, "incidentrelay_open_alerts{{status=\"{status}\"}} {n}");
        }
        head(
            &mut out,
            "incidentrelay_deliveries_total",
            "counter",
            "Delivery attempts by channel type and outcome (sent, retry, dead).",
        );
        self.deliveries.render(&mut out, "incidentrelay_deliveries_total", "channel_type", "outcome");
        head(
            &mut out,
            "incidentrelay_pages_undelivered_total",
            "counter",
            "Pages given up on (permanent error or retry budget spent), by channel type and event.",
        );
        self.undelivered.render(&mut out, "incidentrelay_pages_undelivered_total", "channel_type", "event");
        head(
            &mut out,
            "incidentrelay_outbox_rows",
            "gauge",
            "Unsent outbox rows by channel type and status (pending, failed, sending).",
        );
        for (kind, status, n) in &snap.deliveries_by_status {
            let _ =
                writeln!(out, "incidentrelay_outbox_rows{{channel_type=\"{}\",status=\"{status}\"}} {n}", escape(kind));
        }
        head(
            &mut out,
            "incidentrelay_delivery_latency_seconds",
            "histogram",
            "From queueing a notification to its successful send.",
        );
        self.delivery_latency.render(&mut out, "incidentrelay_delivery_latency_seconds", "");
        head(&mut out, "incidentrelay_engine_cycle_seconds", "histogram", "Duration of engine cycles.");
        self.engine_cycle.render(&mut out, "incidentrelay_engine_cycle_seconds", "");
        head(&mut out, "incidentrelay_engine_leader", "gauge", "1 when this process runs the engine.");
        let _ = writeln!(out, "incidentrelay_engine_leader {}", u8::from(snap.leader));
        if let Some(age) = snap.last_cycle_age_seconds {
            head(
                &mut out,
                "incidentrelay_engine_last_cycle_age_seconds",
                "gauge",
                "Seconds since the engine last completed a cycle.",
            );
            let _ = writeln!(out, "incidentrelay_engine_last_cycle_age_seconds {age}");
        }
        head(
            &mut out,
            "incidentrelay_engine_work_total",
            "counter",
            "Items (alerts escalated or reminded, deliveries started, housekeeping changes) this process's engine handled, by step.",
        );
        self.engine_work.render(&mut out, "incidentrelay_engine_work_total", "step", "unit");
        head(
            &mut out,
            "incidentrelay_engine_locks_total",
            "counter",
            "Step locks this process took (won) or found held by another process (busy), by step.",
        );
        self.engine_locks.render(&mut out, "incidentrelay_engine_locks_total", "step", "outcome");
        head(
            &mut out,
            "incidentrelay_engine_claims_total",
            "counter",
            "Rows this process claimed: deliveries to send, alerts whose timer it ran.",
        );
        self.engine_claims.render(&mut out, "incidentrelay_engine_claims_total", "kind", "outcome");
        head(
            &mut out,
            "incidentrelay_store_retries_total",
            "counter",
            "Transactions run again after a conflict with another process (PostgreSQL).",
        );
        let _ = writeln!(out, "incidentrelay_store_retries_total {}", snap.store_retries);
        if let Some(flushes) = &snap.flushes {
            head(
                &mut out,
                "incidentrelay_store_flush_seconds",
                "histogram",
                "Time each flush of the SQLite database's log to disk (fdatasync) took; a write is answered only after one.",
            );
            flushes.seconds.render(&mut out, "incidentrelay_store_flush_seconds", "");
            head(
                &mut out,
                "incidentrelay_store_flushed_writes_total",
                "counter",
                "Writes made durable by those flushes; over the flush count, the writes one flush covers.",
            );
            let _ = writeln!(out, "incidentrelay_store_flushed_writes_total {}", flushes.writes());
        }
        head(&mut out, "incidentrelay_http_requests_total", "counter", "HTTP requests by method and status class.");
        self.http_requests.render(&mut out, "incidentrelay_http_requests_total", "method", "status");
        head(&mut out, "incidentrelay_http_request_duration_seconds", "histogram", "HTTP request latency.");
        self.http_latency.render(&mut out, "incidentrelay_http_request_duration_seconds", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.delivery("slack", "sent");
        m.delivery("slack", "sent");
        m.delivery_latency.observe(0.02);
        m.http("GET", 200, 0.003);
        let text = m.render(&Snapshot { open_alerts: vec![("firing".into(), 3)], leader: true, ..Default::default() });
        assert!(text.contains("incidentrelay_deliveries_total{channel_type=\"slack\",outcome=\"sent\"} 2"), "{text}");
        assert!(text.contains("incidentrelay_open_alerts{status=\"firing\"} 3"));
        assert!(text.contains("incidentrelay_delivery_latency_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("incidentrelay_delivery_latency_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("incidentrelay_engine_leader 1"));
        assert!(text.contains("incidentrelay_http_requests_total{method=\"GET\",status=\"2xx\"} 1"));
        assert!(!text.contains("incidentrelay_store_flush"), "no flush metrics without flushes");
    }

    #[test]
    fn flushes_render_as_a_histogram_and_the_writes_they_covered() {
        let flushes = std::sync::Arc::new(FlushStats::default());
        flushes.flushed(0.0003, 11);
        flushes.flushed(0.002, 4);
        let text = Metrics::default().render(&Snapshot { flushes: Some(flushes), ..Default::default() });
        for line in [
            "# TYPE incidentrelay_store_flush_seconds histogram",
            "incidentrelay_store_flush_seconds_bucket{le=\"0.00025\"} 0",
            "incidentrelay_store_flush_seconds_bucket{le=\"0.0005\"} 1",
            "incidentrelay_store_flush_seconds_bucket{le=\"0.0025\"} 2",
            "incidentrelay_store_flush_seconds_count 2",
            "incidentrelay_store_flush_seconds_sum 0.0023",
            "# TYPE incidentrelay_store_flushed_writes_total counter",
            "incidentrelay_store_flushed_writes_total 15",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
