//! Crash safety: a server killed with SIGKILL under load has every alert it acknowledged with a
//! 2xx in its database.

use crate::process::{Load, Proc};

#[test]
fn sigkill_under_load_loses_no_acknowledged_alert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut server = Proc::start(&db, &["serve"], &[]);
    let admin = server.login(&server.admin_password.clone().unwrap());
    let token = server.webhook_route(&admin);
    let load = Load::start(&server.base, &token, 8, "crash");
    // Let the load run, then kill the server mid-flight.
    load.wait_for(300);
    server.kill();
    let acked: Vec<String> = load.stop().into_iter().map(|(k, _)| k).collect();
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
