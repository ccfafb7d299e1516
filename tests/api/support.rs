//! Test harness: a real server on 127.0.0.1:0 with a temp database, a manual clock and an
//! in-memory log; blocking HTTP helpers; engine cycles driven by hand.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use incidentrelay::app::{Application, Roles};
use incidentrelay::clock::ManualClock;
use incidentrelay::config::Config;
use incidentrelay::domain::time::Ts;
use incidentrelay::engine::{CycleReport, Engine};
use incidentrelay::logging::MemoryLog;
use serde_json::{Value, json};

pub const T0: &str = "2026-11-23T09:00:00Z";

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The `field`s of a validation error's details.
    pub fn fields(&self) -> Vec<String> {
        self.body["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|x| x["field"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
    pub fn sorted_fields(&self) -> Vec<String> {
        let mut f = self.fields();
        f.sort();
        f
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self.body
    }
    pub fn id(&self) -> i64 {
        self.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

pub struct TestApp {
    pub rt: tokio::runtime::Runtime,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub engine: Arc<Engine>,
    pub app: Application,
    pub log: MemoryLog,
    pub dir: tempfile::TempDir,
    pub admin_password: String,
    pub agent: ureq::Agent,
    pub config: Config,
    _errors: ShowErrors,
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_redirects(0)
        .build()
        .into()
}

/// Whether this test binary runs the suite on PostgreSQL (`tests/postgres`) rather than on a
/// SQLite file (`tests/api`).
pub fn postgres() -> bool {
    crate::POSTGRES
}

/// For a test of SQLite itself (its file's permissions, its disk, its backup): true — skip
/// it — on PostgreSQL, saying why.
pub fn sqlite_only(why: &str) -> bool {
    if postgres() {
        eprintln!("SKIPPED on PostgreSQL: {why}");
    }
    postgres()
}

/// The database of a process started on `path` (see [`database_url_for`]), opened by the test.
pub fn open_database(path: &std::path::Path) -> incidentrelay::store::Db {
    let mut cfg = incidentrelay::config::DatabaseConfig { path: path.to_path_buf(), ..Default::default() };
    if postgres() {
        cfg.url = Some(database_url_for(path));
        cfg.pool_size = 4;
    }
    incidentrelay::store::Db::open(&cfg).expect("open the database")
}

/// The PostgreSQL database standing in for a SQLite file path (the same one for the same
/// path, so that a process started again finds its data).
pub fn database_url_for(path: &std::path::Path) -> String {
    static MAP: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let mut map = MAP.lock().unwrap();
    if let Some((_, url)) = map.iter().find(|(p, _)| p == path) {
        return url.clone();
    }
    let url = crate::pg::database_or_skip();
    map.push((path.to_path_buf(), url.clone()));
    url
}

/// The configuration tests start from.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.workers = 2;
    c.database.path = dir.join("test.db");
    c.database.read_pool_size = 4;
    if postgres() {
        c.database.url = Some(crate::pg::database_or_skip());
        c.database.pool_size = 8;
    }
    c.scheduler.enabled = false;
    c.logging.requests = false;
    c.intake.rate_limit_per_minute = 0;
    // Fake receivers listen on loopback: allow it explicitly, as the docs tell users to.
    c.security.outbound_allowlist = vec!["127.0.0.1/32".parse().unwrap()];
    c.server.public_base_url = Some("https://oncall.example".into());
    c
}

/// Shows the server's errors when a test fails (a 500 names only its error id).
pub struct ShowErrors(MemoryLog);

impl Drop for ShowErrors {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self.0.lines().iter().filter(|l| l.contains("\"level\":\"ERRO") || l.contains("CRIT")) {
                eprintln!("server log: {line}");
            }
        }
    }
}

impl TestApp {
    pub fn start() -> TestApp {
        TestApp::start_with(|_| {})
    }

    pub fn start_with(f: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        f(&mut config);
        TestApp::start_in(dir, config, ManualClock::new(Ts::parse(T0).unwrap()))
    }

    pub fn start_in(dir: tempfile::TempDir, config: Config, clock: Arc<ManualClock>) -> TestApp {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let log = MemoryLog::default();
        let logger = log.logger();
        let (c2, config2) = (clock.clone(), config.clone());
        let app = rt
            .block_on(
                async move { Application::build(config2, c2, logger, Roles::default()).await.map(Application::spawn) },
            )
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let admin_password = log
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v["password"].as_str().map(String::from))
            .unwrap_or_default();
        let engine = app.engine();
        let _errors = ShowErrors(log.clone());
        TestApp { rt, base, clock, engine, app, log, dir, admin_password, agent: agent(), config, _errors }
    }

    /// Stops this server (as a crash would: nothing is flushed beyond what was committed) and
    /// starts a new one on the same database and clock. Sessions stay valid.
    pub fn restart(self) -> TestApp {
        self.restart_with(|| {})
    }

    /// `restart`, doing `meanwhile` while the server is down.
    pub fn restart_with(self, meanwhile: impl FnOnce()) -> TestApp {
        let TestApp { rt, clock, app, dir, admin_password, config, .. } = self;
        drop(app);
        rt.shutdown_timeout(Duration::from_secs(5));
        meanwhile();
        let mut next = TestApp::start_in(dir, config, clock);
        next.admin_password = admin_password;
        next
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        send(&self.agent, method, &self.url(path), token, body.map(|b| b.to_string()), headers)
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.request("GET", path, Some(token), None, &[])
    }
    pub fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request("POST", path, Some(token), Some(&body), &[])
    }
    pub fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request("PUT", path, Some(token), Some(&body), &[])
    }
    pub fn delete(&self, path: &str, token: &str) -> Resp {
        self.request("DELETE", path, Some(token), None, &[])
    }
    pub fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Resp {
        send(&self.agent, "POST", &self.url(path), token, Some(body.to_string()), &[])
    }

    pub fn login(&self, username: &str, password: &str) -> String {
        let r = self.request(
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": username, "password": password})),
            &[],
        );
        r.expect(200)["access_token"].as_str().unwrap().to_string()
    }

    /// A session token of the first admin.
    pub fn admin(&self) -> String {
        self.login("admin", &self.admin_password)
    }

    /// Creates a user (password `password-<name>`) and returns (id, session token).
    pub fn user(&self, admin: &str, name: &str) -> (i64, String) {
        let id = self
            .post("/api/admin/users", admin, json!({"username": name, "password": format!("password-{name}"), "email": format!("{name}@example.com")}))
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        (id, self.login(name, &format!("password-{name}")))
    }

    pub fn cycle(&self) -> CycleReport {
        let engine = self.engine.clone();
        self.rt.block_on(async move { engine.run_cycle().await })
    }

    /// Runs a cycle and waits for the sends it started.
    pub fn deliver(&self) -> CycleReport {
        let engine = self.engine.clone();
        self.rt.block_on(async move {
            let r = engine.run_cycle().await;
            engine.settle().await;
            r
        })
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }

    pub fn now(&self) -> Ts {
        use incidentrelay::clock::Clock;
        self.clock.now()
    }
}

pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Resp {
    try_send(agent, method, url, token, body, headers).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// `send` that reports connection errors instead of panicking.
pub fn try_send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Result<Resp, ureq::Error> {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.unwrap_or_default()).map_err(ureq::Error::from)?;
    let mut resp = agent.run(req)?;
    let status = resp.status().as_u16();
    let headers =
        resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Resp { status, body, text, headers })
}

/// A group with a viewer, a responder and an editor, a team, and an outsider in another group.
pub struct World {
    pub admin: String,
    pub group: i64,
    pub other_group: i64,
    pub team: i64,
    pub other_team: i64,
    pub viewer: (i64, String),
    pub responder: (i64, String),
    pub editor: (i64, String),
    pub outsider: (i64, String),
}

impl World {
    pub fn new(app: &TestApp) -> World {
        let admin = app.admin();
        let group = app.post("/api/groups", &admin, json!({"slug": "ops", "name": "Operations"})).expect(201)["id"]
            .as_i64()
            .unwrap();
        let other_group =
            app.post("/api/groups", &admin, json!({"slug": "dev", "name": "Developers"})).expect(201)["id"]
                .as_i64()
                .unwrap();
        let viewer = app.user(&admin, "vera");
        let responder = app.user(&admin, "rick");
        let editor = app.user(&admin, "eddie");
        let outsider = app.user(&admin, "olga");
        for (user, role, g) in [
            (&viewer, "viewer", group),
            (&responder, "responder", group),
            (&editor, "editor", group),
            (&outsider, "editor", other_group),
        ] {
            app.post(&format!("/api/groups/{g}/users"), &admin, json!({"user_id": user.0, "role": role})).expect(201);
        }
        let team = app
            .post("/api/teams", &admin, json!({"group_id": group, "slug": "infra", "name": "Infrastructure"}))
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        let other_team = app
            .post("/api/teams", &admin, json!({"group_id": other_group, "slug": "web", "name": "Web"}))
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        World { admin, group, other_group, team, other_team, viewer, responder, editor, outsider }
    }
}
