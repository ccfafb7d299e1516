//! Web UI page times with 10,000 alerts in the database, against the release binary.
//!
//!     cargo bench --bench ui_pages
//!
//! Every page is fetched 30 times over a keep-alive connection as a signed-in admin; reports
//! p50 / p99 / max per page. Target: every page under 100 ms.

mod support;

use std::time::Instant;

use serde_json::json;
use support::{Client, pct, setup_route, start};

fn main() {
    let server = start(&[("INCIDENTRELAY_SCHEDULER__ENABLED", "false")]);
    let (admin, token) = setup_route(&server, "http://127.0.0.1:9/hook");
    let mut c = Client::connect(server.port).expect("connect");
    // 10,000 alerts in batches of 100, a third of them resolved.
    let started = Instant::now();
    for batch in 0..100 {
        let alerts: Vec<_> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let status = if n % 3 == 0 { "resolved" } else { "firing" };
                let severity = ["critical", "warning", "info"][n % 3];
                json!({"status": status, "labels": {"alertname": format!("Load{}", n % 17), "instance": format!("host-{n}"), "severity": severity},
                       "annotations": {"summary": format!("Disk full on host-{n}")}, "fingerprint": format!("fp-{n}")})
            })
            .collect();
        let (s, t) = c
            .request("POST", "/api/integrations/alertmanager", Some(&token), &json!({"alerts": alerts}).to_string())
            .expect("post");
        assert_eq!(s, 200, "{t}");
    }
    println!("10,000 alerts stored in {:.1} s", started.elapsed().as_secs_f64());
    let alert_id = 5000;
    let pages = [
        "/".to_string(),
        "/alerts".into(),
        "/alerts?status=any&page=50".into(),
        "/alerts?status=firing&severity=critical".into(),
        "/alerts?status=any&search=host-4242".into(),
        format!("/alerts/{alert_id}"),
        "/calendar".into(),
        "/calendar?view=week".into(),
        "/teams".into(),
        "/rotations/1".into(),
        "/routes/1".into(),
        "/channels".into(),
        "/silences".into(),
        "/profile".into(),
        "/admin/audit".into(),
    ];
    println!("page times (30 requests each, signed in as admin)   target < 100 ms");
    let cookie = format!("ir_session={admin}");
    let mut c = Client::connect(server.port).expect("connect");
    for p in &pages {
        let mut lat = Vec::new();
        for _ in 0..30 {
            let req = format!("GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nContent-Length: 0\r\n\r\n");
            let mut body = Vec::new();
            let t = Instant::now();
            let status = c.send_raw(req.as_bytes(), &mut body).expect("get");
            lat.push(t.elapsed().as_micros() as u64);
            assert_eq!(status, 200, "{p}: {}", String::from_utf8_lossy(&body));
        }
        lat.sort_unstable();
        println!(
            "{p:<44} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0)
        );
    }
}
