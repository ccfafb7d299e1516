//! The real binary as a child process (`serve`, `scheduler`) on a given database with the real
//! clock: for crash, failover and timing tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Resp, agent, send, try_send};
use crate::tools::{free_port, wait_for};

pub struct Proc {
    pub child: Child,
    pub base: String,
    /// The first admin's password when this process created it.
    pub admin_password: Option<String>,
    http: ureq::Agent,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// `incidentrelay <args>` on `db` with loopback deliveries allowed and `env` on top; waits
    /// for `/readyz` when it serves HTTP.
    pub fn start(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let port = free_port();
        // On PostgreSQL the path names a database of its own (see `support::database_url_for`).
        let (database_var, database_value) = if crate::support::postgres() {
            ("INCIDENTRELAY_DATABASE__URL", crate::support::database_url_for(db))
        } else {
            ("INCIDENTRELAY_DATABASE__PATH", db.display().to_string())
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_incidentrelay"));
        cmd.args(args)
            .env_clear()
            .env("INCIDENTRELAY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(database_var, database_value)
            .env("INCIDENTRELAY_LOGGING__LEVEL", "error")
            .env("INCIDENTRELAY_INTAKE__RATE_LIMIT_PER_MINUTE", "0")
            .env("INCIDENTRELAY_SECURITY__OUTBOUND_ALLOWLIST", r#"["127.0.0.1/32"]"#)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start incidentrelay");
        let stderr = child.stderr.take().expect("stderr");
        // The first-start banner comes before readiness; read it on a thread so a process that
        // prints none does not block us, and keep draining so it never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(p) = line.split("with password ").nth(1) {
                    let _ = tx.send(p.trim().to_string());
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        let serves_http = args.first() == Some(&"serve") && !args.contains(&"--scheduler-only");
        if serves_http {
            wait_for(Duration::from_secs(30), || {
                try_send(&http, "GET", &format!("{base}/readyz"), None, None, &[]).ok().filter(|r| r.status == 200)
            })
            .expect("server ready");
        }
        let admin_password = rx.recv_timeout(Duration::from_millis(if serves_http { 500 } else { 0 })).ok();
        Proc { child, base, admin_password, http }
    }

    pub fn readyz(&self) -> Option<Value> {
        try_send(&self.http, "GET", &format!("{}/readyz", self.base), None, None, &[]).ok().map(|r| r.body)
    }

    pub fn scheduler_role(&self) -> String {
        self.readyz().and_then(|v| v["scheduler"].as_str().map(String::from)).unwrap_or_default()
    }

    pub fn login(&self, password: &str) -> String {
        let r = self.call("POST", "/api/auth/login", None, Some(json!({"username": "admin", "password": password})));
        r.body["access_token"].as_str().expect("logged in").to_string()
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        send(&self.http, method, &format!("{}{path}", self.base), token, body.map(|b| b.to_string()), &[])
    }

    /// POST that must succeed; the response body.
    pub fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self.call("POST", path, Some(token), Some(body));
        assert!(r.status < 300, "POST {path}: {} {}", r.status, r.text);
        r.body
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// A group, team and generic-webhook route created as `admin`; the route's intake token.
    pub fn webhook_route(&self, admin: &str) -> String {
        let g = self.post("/api/groups", admin, json!({"slug": "g", "name": "G"}));
        let t = self.post("/api/teams", admin, json!({"group_id": g["id"], "slug": "t", "name": "T"}));
        let route = self.post("/api/routes", admin, json!({"team_id": t["id"], "name": "r", "source": "webhook"}));
        route["intake_token"].as_str().expect("intake token").to_string()
    }
}

/// Writers posting one generic-webhook alert per request (dedup key `<prefix>-<writer>-<n>`)
/// until stopped or the server goes away, recording every key acknowledged with a 2xx and when.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: &str, token: &str, writers: usize, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writers = (0..writers)
            .map(|w| {
                let (stop, acked) = (stop.clone(), acked.clone());
                let (url, token, prefix) =
                    (format!("{base}/api/integrations/webhook"), token.to_string(), prefix.to_string());
                std::thread::spawn(move || {
                    let http = agent();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let key = format!("{prefix}-{w}-{n}");
                        let body = json!({"title": "load", "fingerprint": key}).to_string();
                        match try_send(&http, "POST", &url, Some(&token), Some(body), &[]) {
                            Ok(r) if r.status == 200 => acked.lock().unwrap().push((key, Instant::now())),
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        Load { stop, acked, writers }
    }

    /// Waits until `n` alerts were acknowledged.
    pub fn wait_for(&self, n: usize) {
        wait_for(Duration::from_secs(30), || (self.acked.lock().unwrap().len() >= n).then_some(()))
            .expect("load is flowing");
    }

    /// Stops the writers; every acknowledged key with the time of its 2xx.
    pub fn stop(self) -> Vec<(String, Instant)> {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.writers {
            w.join().unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}
