//! Delivery load test against the release binary and a fake webhook receiver on loopback.
//!
//!     cargo bench --bench delivery
//!
//! 1. Latency: 3,000 Alertmanager alerts paced at 1,000/s into a server running the engine; for
//!    each, the time from sending the intake request to the receiver getting the page.
//!    Target: p99 < 50 ms.
//! 2. Drain: as many alerts posted to a web-only server (`--no-scheduler`) leave as many pending
//!    deliveries; then `incidentrelay scheduler` starts on the same database and the time until
//!    the receiver has all of them is measured. Target: < 5 s.
//!
//! DELIVERY_BENCH_ALERTS (default 3000) and DELIVERY_BENCH_RATE (default 1000/s) adjust the run.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Client, Server, am_body, pct, setup_route, start};

/// Records when each alert (by its `instance` label) first reached the receiver.
#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    requests: Arc<Mutex<u64>>,
}

impl Receiver {
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
        let me = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.serve(stream));
            }
        });
        url
    }

    /// A keep-alive HTTP/1.1 connection: read each request, note its alert, answer 200.
    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let Ok(mut out) = stream.try_clone() else { return };
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        loop {
            let mut len = 0usize;
            line.clear();
            if r.read_line(&mut line).map_or(true, |n| n == 0) {
                return;
            }
            loop {
                line.clear();
                if r.read_line(&mut line).map_or(true, |n| n == 0) {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
            let now = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if let Some(instance) = v["alert"]["labels"]["instance"].as_str() {
                self.arrivals.lock().expect("lock").entry(instance.to_string()).or_insert(now);
            }
            *self.requests.lock().expect("lock") += 1;
            if out
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                .is_err()
            {
                return;
            }
        }
    }

    fn count(&self) -> usize {
        self.arrivals.lock().expect("lock").len()
    }
}

const ALLOW_LOOPBACK: (&str, &str) = ("INCIDENTRELAY_SECURITY__OUTBOUND_ALLOWLIST", r#"["127.0.0.1/32"]"#);

fn latency(alerts: usize, rate: u64) {
    let receiver = Receiver::default();
    let url = receiver.start();
    let server = start(&[ALLOW_LOOPBACK, ("INCIDENTRELAY_DATABASE__SYNCHRONOUS", "full")]);
    let (_, token) = setup_route(&server, &url);
    let mut c = Client::connect(server.port).expect("connect");
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let mut sent: Vec<(String, Instant)> = Vec::with_capacity(alerts);
    let begin = Instant::now();
    for i in 0..alerts {
        let due = begin + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let fp = format!("lat-{i}");
        let t = Instant::now();
        let (status, text) =
            c.request("POST", "/api/integrations/alertmanager", Some(&token), &am_body(&fp)).expect("post");
        assert_eq!(status, 200, "{text}");
        sent.push((fp, t));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() < alerts && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let arrivals = receiver.arrivals.lock().expect("lock").clone();
    let mut lat: Vec<u64> = sent
        .iter()
        .filter_map(|(fp, t)| arrivals.get(fp).map(|a| a.saturating_duration_since(*t).as_micros() as u64))
        .collect();
    lat.sort_unstable();
    println!(
        "latency: {alerts} alerts at {rate}/s: intake → first delivery attempt p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} of {alerts} arrived)   target p99 < 50 ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        lat.len()
    );
}

fn drain(alerts: usize) {
    let receiver = Receiver::default();
    let url = receiver.start();
    let web = start(&[ALLOW_LOOPBACK, ("INCIDENTRELAY_SCHEDULER__ENABLED", "false")]);
    let (_, token) = setup_route(&web, &url);
    let mut c = Client::connect(web.port).expect("connect");
    for i in 0..alerts {
        let (status, text) = c
            .request("POST", "/api/integrations/alertmanager", Some(&token), &am_body(&format!("drain-{i}")))
            .expect("post");
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(receiver.count(), 0, "nothing is sent without the engine");
    let start = Instant::now();
    let engine = spawn_scheduler(&web);
    let deadline = start + Duration::from_secs(30);
    let mut first = None;
    while receiver.count() < alerts && Instant::now() < deadline {
        if first.is_none() && receiver.count() > 0 {
            first = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = start.elapsed();
    drop(engine);
    println!(
        "drain: {} of {alerts} pending deliveries sent {:.2} s after `incidentrelay scheduler` started (first after {:.0} ms; {} requests)   target < 5 s",
        receiver.count(),
        total.as_secs_f64(),
        first.unwrap_or_default().as_secs_f64() * 1000.0,
        receiver.requests.lock().expect("lock")
    );
}

/// `incidentrelay scheduler` on the web server's database.
fn spawn_scheduler(web: &Server) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_incidentrelay"))
        .arg("scheduler")
        .env("INCIDENTRELAY_DATABASE__PATH", web.dir.path().join("bench.db"))
        .env("INCIDENTRELAY_LOGGING__LEVEL", "warning")
        .env(ALLOW_LOOPBACK.0, ALLOW_LOOPBACK.1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the scheduler");
    Server { child, port: 0, admin_password: String::new(), dir: tempfile::tempdir().expect("tempdir") }
}

fn main() {
    let alerts: usize = std::env::var("DELIVERY_BENCH_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let rate: u64 = std::env::var("DELIVERY_BENCH_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    latency(alerts, rate);
    drain(alerts);
}
