//! Shared pieces of the load tools: start the release binary on a temp database, a minimal
//! keep-alive HTTP/1.1 client (so the client is not the bottleneck), latency statistics.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub admin_password: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Starts `incidentrelay serve` with `env` overrides on a fresh database.
pub fn start(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_incidentrelay"));
    cmd.arg("serve")
        .env("INCIDENTRELAY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("INCIDENTRELAY_DATABASE__PATH", dir.path().join("bench.db"))
        .env("INCIDENTRELAY_LOGGING__REQUESTS", "false")
        .env("INCIDENTRELAY_LOGGING__LEVEL", "warning")
        .env("INCIDENTRELAY_INTAKE__RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let mut admin_password = String::new();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.split("with password ").nth(1) {
            admin_password = rest.trim().to_string();
            break;
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let server = Server { child, port, admin_password, dir };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(mut c) = Client::connect(port)
            && c.request("GET", "/readyz", None, "").map(|(s, _)| s == 200).unwrap_or(false)
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not become ready");
}

/// A blocking keep-alive HTTP/1.1 client for one connection.
pub struct Client {
    stream: BufReader<TcpStream>,
    port: u16,
    line: String,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(Client { stream: BufReader::new(s), port, line: String::with_capacity(256) })
    }

    /// The bytes of a request, to render once and send many times.
    /// With `BENCH_ACCEPT_GZIP=1` the request asks for gzip, as every real sender does
    /// (Alertmanager and Grafana through Go's HTTP client, Zabbix through curl).
    pub fn render(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Vec<u8> {
        static GZIP: std::sync::OnceLock<&str> = std::sync::OnceLock::new();
        let gzip = GZIP.get_or_init(|| {
            if std::env::var("BENCH_ACCEPT_GZIP").as_deref() == Ok("1") { "Accept-Encoding: gzip\r\n" } else { "" }
        });
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}{gzip}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .into_bytes()
    }

    /// Sends pre-rendered request bytes; returns the status and fills `body`.
    pub fn send_raw(&mut self, request: &[u8], body: &mut Vec<u8>) -> std::io::Result<u16> {
        self.stream.get_mut().write_all(request)?;
        self.line.clear();
        self.stream.read_line(&mut self.line)?;
        let status: u16 = self.line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut len = 0usize;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line)?;
            if self.line == "\r\n" || self.line.is_empty() {
                break;
            }
            if self.line.len() > 15 && self.line[..15].eq_ignore_ascii_case("content-length:") {
                len = self.line[15..].trim().parse().unwrap_or(0);
            }
        }
        body.resize(len, 0);
        self.stream.read_exact(body)?;
        Ok(status)
    }

    /// Sends a request and reads the whole response: (status, body).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let req = self.render(method, path, token, body);
        let mut out = Vec::new();
        let status = self.send_raw(&req, &mut out)?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    pub fn json(&mut self, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, text) = self.request(method, path, token, &body.to_string()).expect("request");
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Logs in as admin and creates a group, team, rotation with a member, a webhook channel and
/// an alertmanager route; returns (admin token, route intake token).
pub fn setup_route(server: &Server, channel_url: &str) -> (String, String) {
    let mut c = Client::connect(server.port).expect("connect");
    let login =
        c.json("POST", "/api/auth/login", None, json!({"username": "admin", "password": server.admin_password}));
    let admin = login["access_token"].as_str().expect("token").to_string();
    let t = Some(admin.as_str());
    let g = c.json("POST", "/api/groups", t, json!({"slug": "bench", "name": "Bench"}));
    let team = c.json("POST", "/api/teams", t, json!({"group_id": g["id"], "slug": "bench", "name": "Bench"}));
    c.json("POST", &format!("/api/groups/{}/users", g["id"]), t, json!({"user_id": 1, "role": "editor"}));
    let rot =
        c.json("POST", "/api/rotations", t, json!({"team_id": team["id"], "name": "r", "rotation_type": "daily"}));
    c.json("POST", &format!("/api/rotations/{}/members", rot["id"]), t, json!({"user_id": 1}));
    let ch = c.json("POST", "/api/channels", t, json!({"team_id": team["id"], "name": "hook", "channel_type": "webhook", "config": {"webhook_url": channel_url}}));
    let route = c.json(
        "POST",
        "/api/routes",
        t,
        json!({"team_id": team["id"], "name": "am", "source": "alertmanager", "rotation_id": rot["id"], "channel_ids": [ch["id"]]}),
    );
    (admin, route["intake_token"].as_str().expect("intake token").to_string())
}

/// One Alertmanager webhook with one firing alert (`fingerprint` must be JSON-safe).
pub fn am_body(fingerprint: &str) -> String {
    format!(
        r#"{{"receiver":"incidentrelay","status":"firing","version":"4","externalURL":"http://am:9093","alerts":[{{"status":"firing","labels":{{"alertname":"Load","instance":"{fingerprint}","severity":"critical"}},"annotations":{{"summary":"load test {fingerprint}"}},"fingerprint":"{fingerprint}","generatorURL":"http://prom:9090/graph"}}],"groupLabels":{{"alertname":"Load"}},"commonLabels":{{}},"commonAnnotations":{{}},"groupKey":"{{}}:{{alertname=\"Load\"}}","truncatedAlerts":0}}"#
    )
}

/// Percentile of sorted microseconds.
pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Resident memory of a process in MiB (VmRSS, VmHWM).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}
