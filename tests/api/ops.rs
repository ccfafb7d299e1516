//! Health, readiness, version.

use crate::support::TestApp;

#[test]
fn health_readiness_and_version() {
    let app = TestApp::start();
    let h = app.request("GET", "/healthz", None, None, &[]);
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = app.request("GET", "/readyz", None, None, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scheduler"], "disabled");
    let v = app.request("GET", "/api/version", None, None, &[]);
    assert_eq!(v.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(v.body["schema_version"].as_i64().unwrap() >= 1);
    assert_eq!(h.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn readyz_reports_the_leader_once_the_lock_is_taken() {
    let app = TestApp::start_with(|c| c.scheduler.enabled = true);
    let mut status = String::new();
    for _ in 0..100 {
        let r = app.request("GET", "/readyz", None, None, &[]);
        status = r.body["scheduler"].as_str().unwrap_or("").to_string();
        if r.status == 200 && status == "leader" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("never became leader: {status}");
}
