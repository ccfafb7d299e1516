//! Crash safety: a server killed with SIGKILL under load has every alert it acknowledged with a
//! 2xx in its database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::external::{free_port, wait_for};
use crate::support::{agent, send, try_send};

#[test]
fn sigkill_under_load_loses_no_acknowledged_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_incidentrelay"))
        .arg("serve")
        .env_clear()
        .env("INCIDENTRELAY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("INCIDENTRELAY_DATABASE__PATH", &db)
        .env("INCIDENTRELAY_LOGGING__LEVEL", "error")
        .env("INCIDENTRELAY_INTAKE__RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut password = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok) {
        if let Some(p) = line.split("with password ").nth(1) {
            password = p.trim().to_string();
            break;
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let http = agent();
    wait_for(Duration::from_secs(30), || {
        try_send(&http, "GET", &format!("{base}/readyz"), None, None, &[]).ok().filter(|r| r.status == 200)
    })
    .expect("server ready");
    let login = send(
        &http,
        "POST",
        &format!("{base}/api/auth/login"),
        None,
        Some(json!({"username": "admin", "password": password}).to_string()),
        &[],
    );
    let admin = login.body["access_token"].as_str().unwrap().to_string();
    let post = |path: &str, body: serde_json::Value| {
        send(&http, "POST", &format!("{base}{path}"), Some(&admin), Some(body.to_string()), &[]).body
    };
    let g = post("/api/groups", json!({"slug": "g", "name": "G"}));
    let t = post("/api/teams", json!({"group_id": g["id"], "slug": "t", "name": "T"}));
    let route = post("/api/routes", json!({"team_id": t["id"], "name": "r", "source": "webhook"}));
    let token = route["intake_token"].as_str().unwrap().to_string();

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, stop, token, base) = (acked.clone(), stop.clone(), token.clone(), base.clone());
            std::thread::spawn(move || {
                let http = agent();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("crash-{w}-{n}");
                    let body = json!({"title": "crash test", "fingerprint": key}).to_string();
                    match try_send(
                        &http,
                        "POST",
                        &format!("{base}/api/integrations/webhook"),
                        Some(&token),
                        Some(body),
                        &[],
                    ) {
                        Ok(r) if r.status == 200 => acked.lock().unwrap().push(key),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    // Let the load run, then kill the server mid-flight.
    wait_for(Duration::from_secs(30), || (acked.lock().unwrap().len() >= 300).then_some(())).expect("load is flowing");
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    // Every acknowledged alert is in the database after the crash (WAL recovery on open).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn.prepare("SELECT 1 FROM alerts WHERE dedup_key = ?1").unwrap();
    let missing: Vec<&String> = acked.iter().filter(|k| !stmt.exists([k.as_str()]).unwrap()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged alerts lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
}
