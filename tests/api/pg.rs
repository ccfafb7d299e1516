//! A throwaway PostgreSQL cluster for the tests, from Debian's `postgresql` package: `initdb`
//! into a temp directory (as the `postgres` user when the tests run as root), `pg_ctl start`
//! on a free loopback port, once per test binary; a watchdog stops it and removes the
//! directory when the test binary exits, however it exits. Every test gets a fresh database.
//!
//! Without the binaries the PostgreSQL tests skip, unless IRTEST_REQUIRE_EXTERNAL=1 (CI).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::tools::{free_port, missing};

pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    dir: String,
    as_postgres: bool,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The cluster of this test binary, started on first use; `None` (after a SKIPPED message)
/// when PostgreSQL is not installed.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| match bin_dir() {
            Some(bin) => Some(Cluster::start(bin)),
            None => {
                missing("PostgreSQL (Debian's postgresql package: initdb, pg_ctl)");
                None
            }
        })
        .as_ref()
}

/// A cluster of the test's own (a test that restarts or stops PostgreSQL must not do it
/// under the other tests); stopped when dropped.
pub fn own() -> Option<Cluster> {
    match bin_dir() {
        Some(bin) => Some(Cluster::start(bin)),
        None => {
            missing("PostgreSQL (Debian's postgresql package: initdb, pg_ctl)");
            None
        }
    }
}

/// A fresh database's URL, or — PostgreSQL not installed, outside CI — the end of this test
/// binary: every test in it needs PostgreSQL, so it stops here, successfully, having said
/// why.
pub fn database_or_skip() -> String {
    match cluster() {
        Some(c) => c.database(),
        None => {
            eprintln!("SKIPPED: the PostgreSQL suite (this test binary) needs PostgreSQL");
            std::process::exit(0);
        }
    }
}

/// Where `initdb` and `pg_ctl` are: Debian's /usr/lib/postgresql/<version>/bin (15 first),
/// else the PATH.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|b| b.join("initdb").is_file()).collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|b| (!b.starts_with("/usr/lib/postgresql/15"), b.clone()));
    versions.into_iter().next().or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        })
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// A command run as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(bin: PathBuf) -> Cluster {
        let as_postgres = is_root();
        let dir = if as_postgres {
            let out = Command::new("runuser")
                .args(["-u", "postgres", "--", "mktemp", "-d", "/tmp/irtest-pg.XXXXXX"])
                .output()
                .expect("mktemp as postgres");
            assert!(out.status.success(), "mktemp: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        } else {
            tempfile::Builder::new().prefix("irtest-pg.").tempdir().expect("tempdir").keep().display().to_string()
        };
        let port = free_port();
        let c = Cluster { port, bin, dir, as_postgres };
        let data = format!("{}/data", c.dir);
        let out = c
            .command("initdb")
            .args(["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        c.watchdog();
        c.pg_ctl(&["start"]);
        c
    }

    /// `pg_ctl <action>` with the test settings (loopback only, this port, no fsync).
    fn pg_ctl(&self, action: &[&str]) {
        let data = format!("{}/data", self.dir);
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=500 -c shared_buffers=64MB",
            self.port, self.dir
        );
        let out = self
            .command("pg_ctl")
            .args(["-D", &data, "-l", &format!("{}/log", self.dir), "-w", "-t", "60", "-o", &options])
            .args(action)
            .stdin(Stdio::null())
            .output()
            .expect("pg_ctl");
        assert!(out.status.success(), "pg_ctl {action:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops the cluster and removes its directory once this test binary is gone.
    fn watchdog(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; {pg_ctl} -D {dir}/data stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            dir = self.dir
        );
        // Detached (its own session, in the background): the shell that starts it exits at once.
        let detach = "setsid sh -c \"$IRTEST_WATCHDOG\" </dev/null >/dev/null 2>&1 &";
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", detach]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", detach]);
            c
        };
        let started = cmd.env("IRTEST_WATCHDOG", &script).status().expect("watchdog");
        assert!(started.success(), "the cluster's watchdog did not start");
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres:unused@127.0.0.1:{}/{database}?sslmode=disable", self.port)
    }

    /// Restarts the server (`-m fast`: sessions are cut, committed data stays).
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    /// Stops the server, as a crash of its machine would (`-m immediate`).
    pub fn stop(&self) {
        let data = format!("{}/data", self.dir);
        let _ = self.command("pg_ctl").args(["-D", &data, "stop", "-m", "immediate", "-w"]).output();
    }

    /// Starts the server again after [`Cluster::stop`].
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    pub fn data_dir(&self) -> PathBuf {
        Path::new(&self.dir).join("data")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
