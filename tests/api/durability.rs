//! Crash safety: a server killed with SIGKILL under load has every alert it acknowledged with a
//! 2xx in its database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::external::wait_for;
use crate::process::Proc;
use crate::support::{agent, try_send};

#[test]
fn sigkill_under_load_loses_no_acknowledged_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut server = Proc::start(&db, &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    let g = server.post("/api/groups", &admin, json!({"slug": "g", "name": "G"}));
    let t = server.post("/api/teams", &admin, json!({"group_id": g["id"], "slug": "t", "name": "T"}));
    let route = server.post("/api/routes", &admin, json!({"team_id": t["id"], "name": "r", "source": "webhook"}));
    let token = route["intake_token"].as_str().unwrap().to_string();
    let base = server.base.clone();

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
    server.kill();
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
