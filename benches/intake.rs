//! Intake load test: Alertmanager webhooks with one alert each, over keep-alive connections
//! from 32 concurrent clients, against the release binary with `synchronous = FULL`.
//!
//!     cargo bench --bench intake
//!
//! Phases (each bounded in time): new alerts (a unique fingerprint per request), then
//! duplicates of 1,000 open alerts. Reports sustained alerts/s, p50/p99/max latency and RSS.
//! INTAKE_BENCH_SECONDS (default 10) and INTAKE_BENCH_CLIENTS (default 32) adjust the run.

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
    let (_, token) = setup_route(&server, "http://127.0.0.1:9/hook");
    let (idle, _) = rss_mib(server.child.id());
    println!(
        "intake load: {clients} keep-alive clients, {secs} s per phase, synchronous=FULL, pid {}",
        server.child.id()
    );
    println!("idle RSS {idle:.1} MiB");

    let t = token.clone();
    let path = "/api/integrations/alertmanager";
    let new = run_phase(server.port, clients, secs, "new alerts", move |c, i, n| {
        c.render("POST", path, Some(&t), &am_body(&format!("new-{i}-{n}")))
    });
    report(&new);
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
    let dup = run_phase(server.port, clients, secs, "duplicates", move |_, i, n| {
        rendered[((i as u64 * 7919 + n) % 1000) as usize].clone()
    });
    report(&dup);
    let (rss, hwm) = rss_mib(server.child.id());
    println!("RSS after duplicate phase {rss:.1} MiB (peak {hwm:.1} MiB)");
    println!("targets: >= 5000 new alerts/s with p99 < 20 ms; >= 20000 duplicates/s");
}
