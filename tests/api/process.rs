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

use crate::fake::Fake;
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
        // On PostgreSQL the path names a database of its own (see `support::database_url_for`).
        if crate::support::postgres() {
            Proc::start_on(&crate::support::database_url_for(db), args, env)
        } else {
            Proc::launch(("INCIDENTRELAY_DATABASE__PATH", db.display().to_string()), args, env)
        }
    }

    /// `incidentrelay <args>` on the SQLite file `db`, whichever backend the suite runs on.
    pub fn start_on_file(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::launch(("INCIDENTRELAY_DATABASE__PATH", db.display().to_string()), args, env)
    }

    /// `incidentrelay <args>` on the PostgreSQL database at `url`.
    pub fn start_on(url: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::launch(("INCIDENTRELAY_DATABASE__URL", url.to_string()), args, env)
    }

    fn launch(database: (&str, String), args: &[&str], env: &[(&str, &str)]) -> Proc {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_incidentrelay"));
        cmd.args(args)
            .env_clear()
            .env("INCIDENTRELAY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(database.0, database.1)
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
        self.login_as("admin", password)
    }

    pub fn login_as(&self, username: &str, password: &str) -> String {
        let r = self.call("POST", "/api/auth/login", None, Some(json!({"username": username, "password": password})));
        r.body["access_token"].as_str().unwrap_or_else(|| panic!("logged in as {username}: {}", r.text)).to_string()
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

/// A group, team, rotation (the admin on call), webhook channels to `fakes` and a generic
/// webhook route using the first one; returns (route id, channel ids, intake token).
pub fn setup(p: &Proc, admin: &str, fakes: &[&Fake]) -> (i64, Vec<i64>, String) {
    let g = p.post("/api/groups", admin, json!({"slug": "g", "name": "G"}));
    let t = p.post("/api/teams", admin, json!({"group_id": g["id"], "slug": "t", "name": "T"}));
    p.post(&format!("/api/groups/{}/users", g["id"]), admin, json!({"user_id": 1, "role": "editor"}));
    let r = p.post("/api/rotations", admin, json!({"team_id": t["id"], "name": "R"}));
    p.post(&format!("/api/rotations/{}/members", r["id"]), admin, json!({"user_id": 1}));
    let channels: Vec<i64> = fakes
        .iter()
        .enumerate()
        .map(|(i, f)| {
            p.post(
                "/api/channels",
                admin,
                json!({"team_id": t["id"], "name": format!("hook{i}"), "channel_type": "webhook", "config": {"webhook_url": format!("{}/hook", f.url)}}),
            )["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let route = p.post(
        "/api/routes",
        admin,
        json!({"team_id": t["id"], "name": "w", "source": "webhook", "rotation_id": r["id"], "channel_ids": [channels[0]]}),
    );
    (route["id"].as_i64().unwrap(), channels, route["intake_token"].as_str().unwrap().to_string())
}

pub fn fire(p: &Proc, token: &str, key: &str) {
    let r = p.call("POST", "/api/integrations/webhook", Some(token), Some(json!({"title": key, "fingerprint": key})));
    assert_eq!(r.status, 200, "{}", r.text);
}

pub fn titles(fake: &Fake) -> Vec<String> {
    fake.requests().iter().map(|r| r.json()["alert"]["title"].as_str().unwrap_or("").to_string()).collect()
}

/// Writers posting one generic-webhook alert per request (dedup key `<prefix>-<writer>-<n>`)
/// until stopped or the server goes away, recording every key acknowledged with a 2xx and when.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: &str, token: &str, writers: usize, prefix: &str) -> Load {
        Load::run(&[base.to_string()], token, writers, prefix, false)
    }

    /// Writers spread over several servers that keep going through errors (a database
    /// restart), trying each failed key again until it gets a 2xx.
    pub fn through_errors(bases: &[String], token: &str, writers: usize, prefix: &str) -> Load {
        Load::run(bases, token, writers, prefix, true)
    }

    fn run(bases: &[String], token: &str, writers: usize, prefix: &str, keep_going: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writers = (0..writers)
            .map(|w| {
                let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
                let url = format!("{}/api/integrations/webhook", bases[w % bases.len()]);
                let (token, prefix) = (token.to_string(), prefix.to_string());
                std::thread::spawn(move || {
                    let http = agent();
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let key = format!("{prefix}-{w}-{n}");
                        let body = json!({"title": "load", "fingerprint": key}).to_string();
                        match try_send(&http, "POST", &url, Some(&token), Some(body), &[]) {
                            Ok(r) if r.status == 200 => {
                                acked.lock().unwrap().push((key, Instant::now()));
                                n += 1;
                            }
                            _ if keep_going => {
                                refused.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        Load { stop, acked, refused, writers }
    }

    /// How many requests were refused (not 2xx) so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// How many alerts were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
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
