//! Crash safety: a server killed with SIGKILL under load has every alert it acknowledged with a
//! 2xx in its database (and, on SQLite, the file passes its integrity check).

use incidentrelay::store::alerts;

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

    // Every acknowledged alert is in the database after the crash (SQLite: WAL recovery on
    // open).
    if !crate::support::postgres() {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok");
    }
    let db = crate::support::open_database(&db);
    let missing: Vec<String> = db
        .read_blocking(move |c| {
            let mut missing = Vec::new();
            for k in acked.iter() {
                if alerts::find_open(c, 1, k, false)?.is_none() {
                    missing.push(k.clone());
                }
            }
            Ok(missing)
        })
        .unwrap();
    assert!(missing.is_empty(), "{} acknowledged alerts lost: {:?}", missing.len(), &missing[..missing.len().min(5)]);
}
