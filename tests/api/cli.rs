//! The binary's commands, run as a user would.

use crate::tools::{bin, run};

#[test]
fn version_help_and_usage_errors() {
    let (code, out, _) = run(bin().arg("version"));
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("incidentrelay {}", env!("CARGO_PKG_VERSION"))), "{out}");
    for cmd in ["serve", "scheduler", "migrate", "create-admin", "check-schema", "version"] {
        let (code, out, _) = run(bin().args([cmd, "--help"]));
        assert_eq!(code, 0, "{cmd} --help");
        assert!(out.contains("Usage:"), "{cmd}: {out}");
    }
    let (code, _, err) = run(bin().args(["serve", "--bogus"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--bogus"), "{err}");
    let (code, _, _) = run(bin().arg("frobnicate"));
    assert_eq!(code, 2);
}

#[test]
fn migrate_check_schema_and_create_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/ir.db");
    let env = ("INCIDENTRELAY_DATABASE__PATH", db.to_str().unwrap());
    let (code, _, err) = run(bin().arg("check-schema").env(env.0, env.1));
    assert_eq!(code, 1, "no database yet: {err}");
    let (code, out, err) = run(bin().arg("migrate").env(env.0, env.1));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Applied migrations V1, V2, V3, V4"), "{out}");
    let (code, out, _) = run(bin().arg("migrate").env(env.0, env.1));
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "migrate is idempotent: {out}");
    let (code, out, _) = run(bin().arg("check-schema").env(env.0, env.1));
    assert_eq!(code, 0);
    assert!(out.starts_with("Schema check OK"), "{out}");

    let (code, out, err) = run(bin()
        .args(["create-admin", "--username", "root", "--email", "root@example.com"])
        .env(env.0, env.1)
        .env("INCIDENTRELAY_ADMIN_PASSWORD", "a-strong-password"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "Admin root created.");
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "another-strong-password\n").unwrap();
    let (code, _, err) = run(bin()
        .args([
            "create-admin",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--password-file",
            pwfile.to_str().unwrap(),
        ])
        .env(env.0, env.1));
    assert_eq!(code, 1, "an existing user needs --update");
    assert!(err.contains("--update"), "{err}");
    let (code, out, _) = run(bin()
        .args([
            "create-admin",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--update",
            "--password-file",
            pwfile.to_str().unwrap(),
        ])
        .env(env.0, env.1));
    assert_eq!((code, out.trim()), (0, "Admin root updated."));
    let (code, _, err) = run(bin()
        .args(["create-admin", "--username", "x", "--email", "x@example.com", "--password", "short"])
        .env(env.0, env.1));
    assert_eq!(code, 1);
    assert!(err.contains("at least 10"), "{err}");

    // A column going missing is reported.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TABLE calendar_feeds").unwrap();
    drop(conn);
    let (code, out, _) = run(bin().arg("check-schema").env(env.0, env.1));
    assert_eq!(code, 1);
    assert!(out.contains("missing: table calendar_feeds"), "{out}");
}

#[test]
fn bad_configuration_fails_with_one_message_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"nowhere\"\n[delivery]\nmax_attempts = 5000\n").unwrap();
    let (code, _, err) =
        run(bin().args(["serve", "--config", cfg.to_str().unwrap()]).env("INCIDENTRELAY_LOGGING__FORMAT", "xml"));
    assert_eq!(code, 1);
    assert!(err.contains("server.listen (INCIDENTRELAY_SERVER__LISTEN)"), "{err}");
    assert!(err.contains("delivery.max_attempts (INCIDENTRELAY_DELIVERY__MAX_ATTEMPTS)"), "{err}");
    assert!(err.contains("logging.format (INCIDENTRELAY_LOGGING__FORMAT)"), "{err}");
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ir.db");
    let env = ("INCIDENTRELAY_DATABASE__PATH", db.to_str().unwrap());
    assert_eq!(run(bin().arg("migrate").env(env.0, env.1)).0, 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '', '0')",
        [],
    )
    .unwrap();
    drop(conn);
    let (code, _, err) = run(bin().arg("migrate").env(env.0, env.1));
    assert_eq!(code, 1);
    assert!(err.contains("newer IncidentRelay"), "{err}");
}

#[test]
fn backup_and_send_test_email_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let env = ("INCIDENTRELAY_DATABASE__PATH", db.to_str().unwrap());
    let (code, _, err) = run(bin().args(["backup", "--output", "/tmp/never.db"]).env(env.0, env.1));
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = run(bin().arg("backup").env(env.0, env.1));
    assert_eq!(code, 2, "--output is required: {err}");
    // No [smtp] host: the command says which setting is missing.
    let (code, _, err) = run(bin().args(["send-test-email", "--to", "me@example.com"]));
    assert_eq!(code, 1);
    assert!(err.contains("smtp.host") && err.contains("INCIDENTRELAY_SMTP__HOST"), "{err}");
    // A server that is not there: the error names it.
    let port = crate::tools::free_port().to_string();
    let (code, _, err) = run(bin()
        .args(["send-test-email", "--to", "me@example.com"])
        .env("INCIDENTRELAY_SMTP__HOST", "127.0.0.1")
        .env("INCIDENTRELAY_SMTP__PORT", &port)
        .env("INCIDENTRELAY_SMTP__SECURITY", "none")
        .env("INCIDENTRELAY_SMTP__FROM", "oncall@example.com")
        .env("INCIDENTRELAY_DELIVERY__TIMEOUT_SECONDS", "2"));
    assert_eq!(code, 1);
    assert!(err.contains(&format!("127.0.0.1:{port} refused the test e-mail")), "{err}");
}
