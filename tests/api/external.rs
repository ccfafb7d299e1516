//! End-to-end tests against real programs users run (installed by `.ci/run`). When a program is
//! missing they skip with a message, unless INCIDENTRELAY_REQUIRE_EXTERNAL=1 (CI) makes that a
//! failure.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::intake::setup;
use crate::support::{TestApp, agent, send, try_send};

/// The path of an external program, or `None` (and a message) to skip.
pub fn require(program: &str) -> Option<String> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
    });
    if found.is_none() {
        if std::env::var("INCIDENTRELAY_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("{program} is required (INCIDENTRELAY_REQUIRE_EXTERNAL=1) but not installed");
        }
        eprintln!("SKIPPED: {program} is not installed (apt-get install prometheus-alertmanager; .ci/run does this)");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Kills the child when the test ends, however it ends.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes (waiting on another program).
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn real_prometheus_alertmanager_fires_and_resolves() {
    let Some(am) = require("prometheus-alertmanager") else { return };
    let app = TestApp::start();
    let s = setup(&app);
    let token = &s.tokens["alertmanager"];
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"route:
  receiver: incidentrelay
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incidentrelay
    webhook_configs:
      - url: {base}/api/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#,
        base = app.base
    );
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, config).unwrap();
    let child = Command::new(am)
        .args([
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=",
            "--log.level=warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let _guard = Guard(child);
    let am_url = format!("http://127.0.0.1:{port}");
    let http = agent();
    wait_for(Duration::from_secs(20), || {
        try_send(&http, "GET", &format!("{am_url}/-/ready"), None, None, &[])
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .expect("alertmanager became ready");

    let alert = json!([{"labels": {"alertname": "DiskFull", "instance": "db-9", "severity": "critical"},
                        "annotations": {"summary": "Disk full on db-9", "runbook_url": "https://runbooks.example/disk"}}]);
    let r = send(&http, "POST", &format!("{am_url}/api/v2/alerts"), None, Some(alert.to_string()), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let fired = wait_for(Duration::from_secs(20), || {
        let page = app.get("/api/alerts?source=alertmanager", &s.w.admin).body;
        page["items"].as_array().and_then(|i| i.first().cloned()).filter(|a| a["status"] == "firing")
    })
    .expect("the alert arrived from Alertmanager");
    assert_eq!(fired["title"], "Disk full on db-9");
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["event_link"], "https://runbooks.example/disk");
    assert_eq!(fired["labels"]["alertmanager_url"].as_str().map(|u| u.starts_with("http")), Some(true));
    assert_eq!(fired["assignee"]["username"], "eddie");

    // Expire it: Alertmanager sends the resolved notification.
    let ended = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(1)).unwrap().to_string();
    let alert = json!([{"labels": {"alertname": "DiskFull", "instance": "db-9", "severity": "critical"},
                        "annotations": {"summary": "Disk full on db-9"}, "endsAt": ended}]);
    let r = send(&http, "POST", &format!("{am_url}/api/v2/alerts"), None, Some(alert.to_string()), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let id = fired["id"].as_i64().unwrap();
    let resolved = wait_for(Duration::from_secs(20), || {
        let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).body;
        (a["status"] == "resolved").then_some(a)
    })
    .expect("the resolved notification arrived");
    assert!(resolved["resolved_by"].as_str().unwrap().contains("alertmanager"));
}
