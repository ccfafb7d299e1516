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
fn each_request_is_one_whole_json_line_in_the_log_file_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("ir.log");
    let server = crate::process::Proc::start(
        &dir.path().join("log.db"),
        &["serve"],
        &[("INCIDENTRELAY_LOGGING__LEVEL", "info"), ("INCIDENTRELAY_LOGGING__FILE", log.to_str().unwrap())],
    );
    let before = jiff::Timestamp::now();
    for _ in 0..3 {
        assert_eq!(server.call("GET", "/api/version", None, None).status, 200);
    }
    let answered = jiff::Timestamp::now();
    // Read while the server runs: the log thread writes each burst of records out whole, within
    // about 10 ms of the first.
    let lines = crate::tools::wait_for(std::time::Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).ok()?;
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))).collect();
        let versions = lines.iter().filter(|l| l["msg"] == "request" && l["path"] == "/api/version").count();
        (versions == 3 && text.ends_with('\n')).then_some(lines)
    })
    .expect("three request lines in the log file");
    let line = lines.iter().find(|l| l["path"] == "/api/version").unwrap();
    assert_eq!((line["level"].as_str(), line["status"].as_u64()), (Some("INFO"), Some(200)), "{line}");
    // Each line carries the time its request was logged, however much later it was written.
    for line in lines.iter().filter(|l| l["path"] == "/api/version") {
        let ts: jiff::Timestamp = line["ts"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{line}"));
        assert!(before <= ts && ts <= answered, "{line}");
    }
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

#[test]
fn metrics_in_prometheus_format_with_an_optional_bearer_token() {
    let app = crate::support::TestApp::start_with(|c| c.metrics.bearer_token = Some("scrape-me".into()));
    let s = crate::intake::setup(&app);
    let body = serde_json::json!({"title": "m", "fingerprint": "m1"}).to_string();
    app.post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), &body).expect(200);
    app.cycle();
    assert_eq!(app.request("GET", "/metrics", None, None, &[]).status, 401);
    assert_eq!(app.request("GET", "/metrics", Some("wrong"), None, &[]).status, 401);
    let r = app.request("GET", "/metrics", Some("scrape-me"), None, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    for line in [
        "incidentrelay_alerts_received_total{source=\"webhook\",outcome=\"created\"} 1",
        "incidentrelay_open_alerts{status=\"firing\"} 1",
        "# TYPE incidentrelay_delivery_latency_seconds histogram",
        "# TYPE incidentrelay_engine_cycle_seconds histogram",
        "incidentrelay_engine_leader 0",
        "incidentrelay_http_requests_total{method=\"POST\",status=\"2xx\"}",
    ] {
        assert!(r.text.contains(line), "missing {line:?} in\n{}", r.text);
    }
    // SQLite answered the alert only after flushing its log (this suite runs on SQLite alone).
    let flushed = metric(&r.text, "incidentrelay_store_flushed_writes_total");
    let flushes = metric(&r.text, "incidentrelay_store_flush_seconds_count");
    assert!(flushed.is_some_and(|n| n >= 1.0) && flushes.is_some_and(|n| n >= 1.0), "{}", r.text);
}

/// The value of a metric without labels in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// `incidentrelay <args>` on the database `db`: (success, stdout, stderr).
fn run_cli(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = crate::tools::run(crate::tools::bin().args(args).env("INCIDENTRELAY_DATABASE__PATH", db));
    (code == 0, out, err)
}

#[test]
fn demo_data_then_the_readme_curl_example_fires_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let server = crate::process::Proc::start(&db, &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    let (ok, out, err) = run_cli(&db, &["demo-data"]);
    assert!(ok, "{err}");
    let token = crate::tools::printed(&out, "demo-curl");
    // Idempotent: a second run creates nothing twice and issues new tokens.
    let (ok, again, err) = run_cli(&db, &["demo-data"]);
    assert!(ok, "{err}");
    assert!(again.contains("existed already"));
    let token2 = crate::tools::printed(&again, "demo-curl");
    assert_ne!(token, token2);
    let teams = server.call("GET", "/api/teams", Some(&admin), None).body;
    assert_eq!(teams.as_array().unwrap().iter().filter(|t| t["slug"] == "demo-web").count(), 1);
    // The README's curl example, with the printed token.
    let body = serde_json::json!({"title": "Disk full on db-1", "severity": "critical", "fingerprint": "disk-db-1"});
    let r = server.call("POST", "/api/integrations/webhook", Some(&token2), Some(body));
    assert_eq!(r.status, 200, "{}", r.text);
    let alerts = server.call("GET", "/api/alerts?status=firing", Some(&admin), None).body;
    let titles: Vec<&str> = alerts["items"].as_array().unwrap().iter().filter_map(|a| a["title"].as_str()).collect();
    assert!(titles.contains(&"Disk full on db-1"), "{alerts}");
    assert_eq!(r.body[0]["assignee"]["username"].as_str().map(|u| u.starts_with("demo-")), Some(true));
}

/// demo-data makes a system in use: two teams, a rotation with an override, a route through an
/// escalation policy, silences past, present and future, and three weeks of alerts that were
/// acknowledged, resolved, reminded, escalated and silenced, with sent deliveries on their
/// timelines; a second run adds no second history.
#[test]
fn demo_data_is_a_living_system_with_weeks_of_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("living.db");
    let server = crate::process::Proc::start(&db, &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    for _ in 0..2 {
        let (ok, _, err) = run_cli(&db, &["demo-data"]);
        assert!(ok, "{err}");
    }
    let get = |path: &str| server.call("GET", path, Some(&admin), None).body;
    let teams = get("/api/teams");
    let slugs: Vec<&str> = teams.as_array().unwrap().iter().filter_map(|t| t["slug"].as_str()).collect();
    assert!(slugs.contains(&"demo-web") && slugs.contains(&"demo-data"), "{slugs:?}");
    let alerts = get("/api/alerts?page_size=100")["items"].as_array().unwrap().clone();
    assert_eq!(alerts.len(), 17, "one history, however often it runs");
    let count = |status: &str| alerts.iter().filter(|a| a["status"] == status).count();
    assert!(count("resolved") >= 10 && count("acknowledged") >= 2 && count("firing") >= 1, "{alerts:?}");
    let oldest = alerts.iter().filter_map(|a| a["first_seen_at"].as_str()).min().unwrap().to_string();
    // The server runs on the system clock.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(
        now - incidentrelay::domain::time::Ts::parse(&oldest).unwrap().secs() > 14 * 86_400,
        "weeks of history: {oldest}"
    );

    let mut kinds = std::collections::BTreeSet::new();
    let mut sent = 0;
    for a in &alerts {
        for e in get(&format!("/api/alerts/{}/events", a["id"])).as_array().unwrap() {
            kinds.insert(e["event_type"].as_str().unwrap_or("").to_string());
        }
        sent += get(&format!("/api/alerts/{}/deliveries", a["id"]))
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "sent")
            .count();
    }
    for kind in
        ["received", "notified", "reminder", "escalated", "acknowledged", "resolved", "silenced", "recovery_queued"]
    {
        assert!(kinds.contains(kind), "a {kind} entry somewhere on the timelines: {kinds:?}");
    }
    assert!(sent >= 30, "{sent} deliveries sent");

    let rotations = get("/api/rotations");
    let web = rotations.as_array().unwrap().iter().find(|r| r["name"] == "Demo primary").unwrap().clone();
    assert_eq!(get(&format!("/api/rotations/{}/overrides", web["id"])).as_array().unwrap().len(), 1, "an override");
    let routes = get("/api/routes");
    assert!(routes.as_array().unwrap().iter().any(|r| r["escalation_policy_id"].is_i64()), "a route uses the policy");
    let silences = get("/api/silences");
    let states: std::collections::BTreeSet<&str> =
        silences.as_array().unwrap().iter().filter_map(|s| s["state"].as_str()).collect();
    assert_eq!(states, ["active", "expired", "scheduled"].into_iter().collect(), "{silences}");
    let feed = get(&format!("/api/calendar?team_id={}", web["team_id"]));
    assert!(!feed.as_array().unwrap().is_empty(), "the calendar has shifts");
}

/// The README's "Send it an alert" runs as written: demo-data's Alertmanager route token and the
/// curl command from the README (only the address changed) create an alert paging someone.
#[test]
fn the_readme_alertmanager_curl_creates_an_alert_on_the_demo_route() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readme.db");
    let server = crate::process::Proc::start(&db, &["serve"], &[]);
    let (ok, out, err) = run_cli(&db, &["demo-data"]);
    assert!(ok, "{err}");
    let token = crate::tools::printed(&out, "demo-alertmanager");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Send it an alert").nth(1).expect("the README shows sending an alert");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let curl: String = block.lines().skip_while(|l| !l.starts_with("curl ")).collect::<Vec<_>>().join("\n");
    assert!(curl.contains("/api/integrations/alertmanager"), "{curl}");
    let out = std::process::Command::new("sh")
        .args(["-c", &curl.replace("http://127.0.0.1:8080", &server.base)])
        .env("TOKEN", &token)
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("curl: {} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(answer[0]["outcome"], "created", "{answer}");
    assert!(answer[0]["id"].is_i64() && answer[0]["assignee"]["username"].is_string(), "it pages someone: {answer}");
}

/// The README's "Set up a team" runs as written on a fresh install (with the admin's session
/// token), and ends with a route paging the rotation.
#[test]
fn the_readme_team_setup_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::process::Proc::start(&dir.path().join("setup.db"), &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Set up a team").nth(1).expect("the README sets up a team");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let script = format!("set -e\n{}", block.replace("http://127.0.0.1:8080", &server.base));
    let out = std::process::Command::new("bash").args(["-c", &script]).env("TOKEN", &admin).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&said).into_iter().collect::<Result<_, _>>().expect("JSON answers");
    assert_eq!(answers.len(), 9, "one answer per step: {said}");
    for v in &answers {
        assert!(v.get("error").is_none(), "a README step failed: {v}");
    }
    let members = server.call("GET", "/api/rotations/1/members", Some(&admin), None).body;
    let names: Vec<&str> = members.as_array().unwrap().iter().filter_map(|m| m["username"].as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(said.contains("\"intake_token\":\"iri_"), "the route's token is printed: {said}");

    // docs/src/schedules.md's example continues from there.
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/schedules.md")).unwrap();
    let section = page.split("## Example").nth(1).expect("the schedules page has an example");
    let example = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let api = block.lines().find(|l| l.starts_with("api()")).unwrap();
    let script = format!("set -e\n{api}\n{example}").replace("http://127.0.0.1:8080", &server.base);
    let out = std::process::Command::new("bash").args(["-c", &script]).env("TOKEN", &admin).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&said).into_iter().collect::<Result<_, _>>().expect("JSON answers");
    assert_eq!(answers.len(), 6, "one answer per step: {said}");
    for v in &answers {
        assert!(v.get("error").is_none(), "a step of the schedules example failed: {v}");
    }
    let layers = server.call("GET", "/api/rotations/1/layers", Some(&admin), None).body;
    let names: Vec<&str> = layers.as_array().unwrap().iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["Layer 1", "Day crew", "Weekend days"]);
}

#[test]
fn backup_during_a_load_holds_every_alert_acknowledged_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let server = crate::process::Proc::start(&db, &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    let token = server.webhook_route(&admin);
    let load = crate::process::Load::start(&server.base, &token, 4, "b");
    load.wait_for(200);
    let started = std::time::Instant::now();
    let backup = dir.path().join("copy.db");
    let (ok, out, err) = run_cli(&db, &["backup", "--output", backup.to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let acked = load.stop();
    assert!(ok, "{err}");
    assert!(out.contains("Backup of"), "{out}");
    let (ok, out, err) = run_cli(&backup, &["check-schema"]);
    assert!(ok && out.contains("Schema check OK"), "{out}{err}");
    let before: Vec<String> = acked.iter().filter(|(_, t)| *t < started).map(|(k, _)| k.clone()).collect();
    let conn = rusqlite::Connection::open(&backup).unwrap();
    let mut st = conn.prepare("SELECT 1 FROM alerts WHERE dedup_key = ?1").unwrap();
    let missing: Vec<&String> = before.iter().filter(|k| !st.exists([k.as_str()]).unwrap()).collect();
    assert!(missing.is_empty(), "{} of {} missing from the backup", missing.len(), before.len());
    assert!(before.len() >= 200);
    let (ok, _, err) = run_cli(&db, &["backup", "--output", backup.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "never overwrites: {err}");
}

/// The search index is a file of its own beside the database, derived from the alerts: one
/// that was damaged (or deleted) while the server was down is built again on the next start,
/// and search finds every alert once the engine has run.
#[test]
fn a_damaged_or_deleted_search_index_is_rebuilt_on_the_next_start() {
    let app = TestApp::start();
    let s = crate::intake::setup(&app);
    let body = serde_json::json!({"alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": "vault-9"}, "fingerprint": "vault-9"}]});
    let id = app
        .post_raw("/api/integrations/alertmanager", Some(&s.tokens["alertmanager"]), &body.to_string())
        .expect(200)[0]["id"]
        .as_i64()
        .unwrap();
    let found = |app: &TestApp| -> Vec<i64> {
        let page = app.get("/api/alerts?search=vault-9", &app.admin()).expect(200);
        page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
    };
    app.cycle();
    assert_eq!(found(&app), vec![id]);
    let search = incidentrelay::store::search_path(&app.config.database.path);
    let app = app.restart_with(|| std::fs::write(&search, vec![0x5a; 8192]).unwrap());
    assert_eq!(app.request("GET", "/readyz", None, None, &[]).status, 200, "the server starts");
    app.cycle();
    assert_eq!(found(&app), vec![id], "rebuilt from the alerts");
    let app = app.restart_with(|| {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = search.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    });
    assert!(found(&app).is_empty(), "not indexed before the engine runs");
    app.cycle();
    assert_eq!(found(&app), vec![id]);
}
