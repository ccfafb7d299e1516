//! Intake load test: Alertmanager webhooks with one alert each, over keep-alive connections
//! from 32 concurrent clients, against the release binary with `synchronous = FULL`.
//!
//!     cargo bench --bench intake
//!
//! Phases (each bounded in time): new alerts (a unique fingerprint per request), then
//! duplicates of 1,000 open alerts. Reports sustained alerts/s, p50/p99/max latency, RSS, and
//! the database's flushes during each phase (from `/metrics`): how many writes one `fdatasync`
//! covered and how much of the time the `db-sync` thread spent flushing.
//! INTAKE_BENCH_SECONDS (default 10) and INTAKE_BENCH_CLIENTS (default 32) adjust the run.
//!
//! The large-database variant: `INTAKE_BENCH_SEED=1000000 cargo bench --bench intake` first loads
//! that many alerts on the route (in bulk, 95 % resolved, 3 % firing, search-indexed, analysed),
//! then runs the same phases, and times the alert list's first page (`GET /api/alerts`, firing,
//! 50 rows) over HTTP. Target: new-alert throughput within 20 % of the empty database's, and the
//! first page under 50 ms.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{Client, am_body, pct, rss_mib, setup_route, start};

#[allow(unused_imports)]
use serde_json as _;

struct Phase {
    name: &'static str,
    count: u64,
    errors: u64,
    secs: f64,
    lat: Vec<u64>,
}

/// Runs `clients` connections for `secs`; `request(client, n)` gives the bytes of request n.
fn run_phase(
    port: u16,
    clients: usize,
    secs: u64,
    name: &'static str,
    request: impl Fn(&Client, usize, u64) -> Vec<u8> + Send + Sync + 'static,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, errors, request) = (stop.clone(), errors.clone(), request.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(port).expect("connect");
                let mut lat = Vec::with_capacity(100_000);
                let mut n = 0u64;
                let mut body = Vec::with_capacity(1024);
                while !stop.load(Ordering::Relaxed) {
                    let req = request(&c, i, n);
                    let t = Instant::now();
                    match c.send_raw(&req, &mut body) {
                        Ok(200) => lat.push(t.elapsed().as_micros() as u64),
                        Ok(status) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if errors.load(Ordering::Relaxed) < 3 {
                                eprintln!("unexpected {status}: {}", String::from_utf8_lossy(&body));
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            c = Client::connect(port).expect("reconnect");
                        }
                    }
                    n += 1;
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    Phase { name, count: lat.len() as u64, errors: errors.load(Ordering::Relaxed), secs: elapsed, lat }
}

fn report(p: &Phase) {
    println!(
        "{:<12} {:>8} alerts in {:>5.1} s = {:>8.0} alerts/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   errors {}",
        p.name,
        p.count,
        p.secs,
        p.count as f64 / p.secs,
        pct(&p.lat, 0.50),
        pct(&p.lat, 0.99),
        pct(&p.lat, 1.0),
        p.errors
    );
}

/// The database's flushes so far, read from `/metrics`.
#[derive(Clone, Copy, Default)]
struct Flushes {
    count: f64,
    secs: f64,
    writes: f64,
}

fn flushes(port: u16) -> Flushes {
    let text = Client::connect(port)
        .and_then(|mut c| c.request("GET", "/metrics", None, ""))
        .map(|(_, text)| text)
        .unwrap_or_default();
    let value =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0);
    Flushes {
        count: value("incidentrelay_store_flush_seconds_count"),
        secs: value("incidentrelay_store_flush_seconds_sum"),
        writes: value("incidentrelay_store_flushed_writes_total"),
    }
}

/// What the flushes between `before` and `after` did during phase `p`.
fn report_flushes(p: &Phase, before: Flushes, after: Flushes) {
    let n = after.count - before.count;
    if n > 0.0 {
        let secs = after.secs - before.secs;
        println!(
            "{:<12} {n:>8.0} flushes, {:.1} writes each, {:.3} ms on average, flushing {:.0} % of the time",
            "",
            (after.writes - before.writes) / n,
            secs / n * 1e3,
            secs / p.secs * 100.0
        );
    } else {
        println!("{:<12} no flushes in /metrics (it did not answer, or writes did not wait for flushes)", "");
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let secs: u64 = std::env::var("INTAKE_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let clients: usize = std::env::var("INTAKE_BENCH_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    // The engine would try to deliver to the (unreachable) channel; deliveries are not part of
    // this measurement, so this process serves HTTP only.
    let workers = std::env::var("INTAKE_BENCH_WORKERS").unwrap_or_else(|_| "0".into());
    // INTAKE_BENCH_SCHEDULER=1 runs the engine too (search indexing, timers) in the same process.
    let scheduler = if std::env::var("INTAKE_BENCH_SCHEDULER").as_deref() == Ok("1") { "true" } else { "false" };
    let server = start(&[
        ("INCIDENTRELAY_SCHEDULER__ENABLED", scheduler),
        ("INCIDENTRELAY_DATABASE__SYNCHRONOUS", "full"),
        ("INCIDENTRELAY_SERVER__WORKERS", &workers),
    ]);
    let (admin, token) = setup_route(&server, "http://127.0.0.1:9/hook");
    let seeded: i64 = std::env::var("INTAKE_BENCH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if seeded > 0 {
        let t = Instant::now();
        seed(&server.dir.path().join("bench.db"), seeded);
        println!("loaded {seeded} alerts in {:.1} s", t.elapsed().as_secs_f64());
        list_first_page(server.port, &admin);
    }
    let (idle, _) = rss_mib(server.child.id());
    println!(
        "intake load: {clients} keep-alive clients, {secs} s per phase, synchronous=FULL, pid {}",
        server.child.id()
    );
    println!("idle RSS {idle:.1} MiB");

    let t = token.clone();
    let path = "/api/integrations/alertmanager";
    let before = flushes(server.port);
    let new = run_phase(server.port, clients, secs, "new alerts", move |c, i, n| {
        c.render("POST", path, Some(&t), &am_body(&format!("new-{i}-{n}")))
    });
    report(&new);
    report_flushes(&new, before, flushes(server.port));
    let (rss, hwm) = rss_mib(server.child.id());
    println!("RSS after new-alert phase {rss:.1} MiB (peak {hwm:.1} MiB)");

    // 1,000 open alerts, then repeats of them.
    let mut c = Client::connect(server.port).expect("connect");
    for k in 0..1000 {
        let (s, t) = c
            .request("POST", "/api/integrations/alertmanager", Some(&token), &am_body(&format!("dup-{k}")))
            .expect("seed");
        assert_eq!(s, 200, "{t}");
    }
    let rendered: Arc<Vec<Vec<u8>>> =
        Arc::new((0..1000).map(|k| c.render("POST", path, Some(&token), &am_body(&format!("dup-{k}")))).collect());
    let before = flushes(server.port);
    let dup = run_phase(server.port, clients, secs, "duplicates", move |_, i, n| {
        rendered[((i as u64 * 7919 + n) % 1000) as usize].clone()
    });
    report(&dup);
    report_flushes(&dup, before, flushes(server.port));
    let (rss, hwm) = rss_mib(server.child.id());
    println!("RSS after duplicate phase {rss:.1} MiB (peak {hwm:.1} MiB)");
    println!(
        "targets (issue 17, for ../shared/bench/intake-wrk.sh): >= 10000 new alerts/s and >= 30000 duplicates/s, p99 < 20 ms; RSS < 100 MiB under load, < 30 MiB idle"
    );
    if seeded > 0 {
        list_first_page(server.port, &admin);
    }
}

/// Loads `n` alerts on the route beside the server, in one transaction of plain SQL:
/// 95 % resolved, 3 % firing, 1 % each acknowledged and silenced; unique fingerprints and
/// labels; in the search index (the watermark moved past them), then analysed.
fn seed(path: &std::path::Path, n: i64) {
    let mut raw = rusqlite::Connection::open(path).expect("open the database");
    raw.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    let (route, team): (i64, i64) = raw
        .query_row("SELECT id, team_id FROM routes ORDER BY id LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("the route");
    let tx = raw.transaction().expect("begin");
    {
        let mut st = tx
            .prepare(
                "INSERT INTO alerts (team_id, route_id, source, dedup_key, title, message, severity, status, labels, alert_count,
                                     first_seen_at, last_seen_at, resolved_at, created_at, updated_at)
                 VALUES (?8, ?9, 'alertmanager', ?1, ?2, '', ?3, ?4, ?5, 1, ?6, ?6, ?7, ?6, ?6)",
            )
            .expect("prepare");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for i in 0..n {
            let status = match i % 100 {
                0..=2 => "firing",
                3 => "acknowledged",
                4 => "silenced",
                _ => "resolved",
            };
            let ts = now - (n - i) * 1000;
            st.execute(rusqlite::params![
                format!("seed-{i}"),
                format!("Disk full on host-{} ({i})", i % 5000),
                ["critical", "high", "warning", "info"][(i % 4) as usize],
                status,
                format!("{{\"alertname\":\"DiskFull\",\"instance\":\"host-{i}\"}}"),
                ts,
                (status == "resolved").then_some(ts + 60_000),
                team,
                route,
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
    // The search index is in its own file beside the database (store::sqlite::SearchIndex).
    let search = incidentrelay::store::search_path(path);
    raw.execute("ATTACH DATABASE ?1 AS search", [search.to_str().expect("a UTF-8 path")]).expect("attach");
    raw.execute_batch(
        "BEGIN;
         INSERT INTO search.alerts_fts (rowid, body) SELECT id, dedup_key || ' ' || title FROM main.alerts WHERE dedup_key LIKE 'seed-%';
         INSERT INTO search.search_state (key, value) SELECT 'alert_id', MAX(id) FROM main.alerts WHERE true
             ON CONFLICT(key) DO UPDATE SET value = excluded.value;
         COMMIT;",
    )
    .expect("index");
    if std::env::var("INTAKE_BENCH_ANALYZE").as_deref() != Ok("0") {
        raw.execute_batch("ANALYZE").expect("analyze");
    }
}

/// Times the alert list's first page (firing, 50 rows) over HTTP: 20 requests.
fn list_first_page(port: u16, admin: &str) {
    let mut c = Client::connect(port).expect("connect");
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (status, _) = c.request("GET", "/api/alerts?status=firing&page_size=50", Some(admin), "").expect("list");
        assert_eq!(status, 200);
        times.push(t.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    println!(
        "alert list, first page of firing alerts: p50 {:.2} ms  max {:.2} ms   target < 50 ms",
        pct(&times, 0.5),
        pct(&times, 1.0)
    );
}
