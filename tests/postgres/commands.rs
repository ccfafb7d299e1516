//! The commands on PostgreSQL (`database.url`): migrate, check-schema, create-admin,
//! demo-data; backup (pg_dump's job: exit 2); copy-data from a SQLite installation; the
//! configuration rules; and the two migration directories defining the same schema.

use incidentrelay::config::DatabaseConfig;
use incidentrelay::store::{Db, schema};
use serde_json::json;

use crate::process::Proc;
use crate::tools::{bin, run};

fn with_url(url: &str, args: &[&str]) -> (i32, String, String) {
    run(bin().args(args).env("INCIDENTRELAY_DATABASE__URL", url))
}

fn with_file(path: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run(bin().args(args).env("INCIDENTRELAY_DATABASE__PATH", path))
}

#[test]
fn migrate_check_schema_create_admin_and_demo_data_work_on_postgresql_and_backup_points_at_pg_dump() {
    let url = crate::pg::database_or_skip();
    let (code, out, err) = with_url(&url, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Created a new database") && out.contains("Applied migrations V1"), "{out}");
    assert!(out.contains("postgres://postgres:********@127.0.0.1"), "the URL is shown without its password: {out}");
    let (code, out, _) = with_url(&url, &["migrate"]);
    assert_eq!(code, 0);
    assert!(out.contains("is up to date"), "{out}");
    let (code, out, err) = with_url(&url, &["check-schema"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Schema check OK"), "{out}");
    let (code, out, err) = run(bin()
        .args(["create-admin", "--username", "boss", "--email", "boss@example.com"])
        .env("INCIDENTRELAY_DATABASE__URL", &url)
        .env("INCIDENTRELAY_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Admin boss created"), "{out}");
    let (code, out, err) = with_url(&url, &["demo-data"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("demo-curl"), "{out}");
    let (code, _, err) = with_url(&url, &["backup", "--output", "/tmp/never-written.db"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!std::path::Path::new("/tmp/never-written.db").exists());
}

#[test]
fn the_database_url_never_shows_its_password_and_cannot_be_combined_with_a_path() {
    // Nothing listens on port 9: the error names the database, without the password.
    let (code, _, err) = with_url("postgres://ir:hunter2-secret@127.0.0.1:9/ir?sslmode=disable", &["check-schema"]);
    assert_eq!(code, 1);
    assert!(err.contains("postgres://ir:********@127.0.0.1:9/ir") && !err.contains("hunter2"), "{err}");
    let (code, _, err) = run(bin()
        .arg("check-schema")
        .env("INCIDENTRELAY_DATABASE__URL", "postgres://ir:hunter2-secret@127.0.0.1:9/ir")
        .env("INCIDENTRELAY_DATABASE__PATH", "/tmp/ir.db"));
    assert_eq!(code, 1);
    assert!(
        err.contains("database.path") && err.contains("database.url") && err.contains("INCIDENTRELAY_DATABASE__URL"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let (code, _, err) = with_url("mysql://ir:hunter2-secret@db/ir", &["check-schema"]);
    assert_eq!(code, 1);
    assert!(err.contains("database.url") && !err.contains("hunter2"), "{err}");
}

#[test]
fn both_migration_directories_define_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::open(&DatabaseConfig { path: dir.path().join("s.db"), ..Default::default() }).unwrap();
    let pg = Db::open(&DatabaseConfig { url: Some(crate::pg::database_or_skip()), pool_size: 2, ..Default::default() })
        .unwrap();
    let shape = |db: &Db| {
        db.read_blocking(|c| {
            let mut tables = Vec::new();
            for t in schema::tables(c)? {
                let mut cols: Vec<String> = schema::columns_of(c, &t)?.into_iter().filter(|c| c != "rowid").collect();
                cols.sort();
                tables.push((t, cols));
            }
            Ok((tables, schema::differences(c)?))
        })
        .unwrap()
    };
    let (s, s_problems) = shape(&sqlite);
    let (p, p_problems) = shape(&pg);
    assert_eq!((s_problems, p_problems), (vec![], vec![]), "both match schema::EXPECTED");
    assert_eq!(s, p, "migrations/sqlite and migrations/postgres define the same tables and columns");
    assert_eq!(s.len(), schema::EXPECTED.len());
}

#[test]
fn copy_data_moves_a_sqlite_installation_and_refuses_a_target_that_holds_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db");
    let (code, _, err) = run(bin()
        .args(["create-admin", "--username", "boss", "--email", "boss@example.com"])
        .env("INCIDENTRELAY_DATABASE__PATH", &file)
        .env("INCIDENTRELAY_ADMIN_PASSWORD", "correct horse battery"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(with_file(&file, &["demo-data"]).0, 0);
    // Alerts, their timelines and deliveries, on the SQLite installation.
    let old = Proc::start_on_file(&file, &["serve"], &[]);
    let admin = old.login_as("boss", "correct horse battery");
    let token = old.webhook_route(&admin);
    for n in 0..5 {
        old.post(
            "/api/integrations/webhook",
            &token,
            json!({"title": format!("moved {n}"), "fingerprint": format!("m{n}")}),
        );
    }
    let before = old.call("GET", "/api/alerts?page_size=100", Some(&admin), None).body;
    drop(old);

    let url = crate::pg::database_or_skip();
    let (code, out, err) = run(bin().args(["copy-data", "--from", file.to_str().unwrap(), "--to", &url]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("every table's row count matches") && out.contains("alerts: "), "{out}");
    let (code, _, err) = run(bin().args(["copy-data", "--from", file.to_str().unwrap(), "--to", &url]));
    assert_eq!(code, 1);
    assert!(err.contains("already holds data"), "{err}");

    // The same installation on PostgreSQL: the same people, alerts and intake tokens.
    let new = Proc::start_on(&url, &["serve"], &[]);
    assert!(new.admin_password.is_none(), "no new admin: the copied one is there");
    let admin = new.login_as("boss", "correct horse battery");
    let after = new.call("GET", "/api/alerts?page_size=100", Some(&admin), None).body;
    assert_eq!(before["pagination"]["total_items"], 22, "the demo's 17 alerts and 5 more: {before}");
    assert_eq!(after["pagination"], before["pagination"]);
    assert_eq!(after["items"], before["items"]);
    let r = new.post("/api/integrations/webhook", &token, json!({"title": "after the move", "fingerprint": "m-new"}));
    let max_before = before["items"].as_array().unwrap().iter().filter_map(|a| a["id"].as_i64()).max().unwrap();
    assert_eq!(r[0]["id"].as_i64(), Some(max_before + 1), "new ids continue after the copied ones");
    // The search index is rebuilt by the engine.
    let found = crate::tools::wait_for(std::time::Duration::from_secs(15), || {
        let r = new.call("GET", "/api/alerts?search=moved%203", Some(&admin), None).body;
        (r["pagination"]["total_items"] == 1).then_some(())
    });
    assert!(found.is_some(), "copied alerts are searchable");
}
