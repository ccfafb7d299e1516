//! `Application::build(config, clock, log)`: opens the database (migrating it), makes sure an
//! admin exists, starts the engine and the HTTP server. Tests build it on `127.0.0.1:0` with a
//! temp database and a manual clock.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{HttpServer, web};
use slog::{Logger, info, warn};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::engine::{self, Engine, EngineHandle};
use crate::http::{self, AppState};
use crate::store::audit::{Actor, Ctx};
use crate::store::{self, Db, users};

/// Which parts this process runs, and whether it may start a new database where an earlier
/// one vanished (`--init`).
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub http: bool,
    pub scheduler: bool,
    pub init: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles { http: true, scheduler: true, init: false }
    }
}

pub struct Application {
    port: Option<u16>,
    server: Option<actix_web::dev::Server>,
    state: web::Data<AppState>,
    engine: Arc<Engine>,
    log: Logger,
}

impl Application {
    pub async fn build(config: Config, clock: SharedClock, log: Logger, roles: Roles) -> Result<Application, String> {
        let config = Arc::new(config);
        let db_cfg = config.database.clone();
        let missing = if roles.init { store::Missing::Create } else { store::Missing::FirstStartOnly };
        let db = tokio::task::spawn_blocking(move || Db::open_with(&db_cfg, missing))
            .await
            .map_err(|e| format!("database task: {e}"))?
            .map_err(|e| format!("database {}: {e}", store::describe(&config.database)))?
            .with_mail_fallback(config.smtp.host.is_some());
        let path = db.describe();
        let clock = align_clock(&db, clock, &log).await;
        match (db.created(), roles.init) {
            (true, false) => {
                info!(log, "first start: created a new database (nothing of an earlier one was there)"; "path" => path)
            }
            (true, true) => warn!(log, "created a new, empty database as --init asked"; "path" => path),
            (false, _) => info!(log, "opened the database"; "path" => path),
        }
        ensure_admin(&db, &clock, &log).await?;
        let secret = db.write(store::server_secret).await.map_err(|e| format!("installation secret: {e}"))?;
        let timeout = std::time::Duration::from_secs(config.delivery.timeout_seconds);
        let mailer = crate::notify::email::Mailer::new(
            &config.smtp,
            &config.public_base_url(),
            timeout,
            tokio::runtime::Handle::current(),
        )?;
        let senders = Arc::new(crate::notify::Senders {
            http: crate::notify::Outbound::new(timeout, config.security.outbound_allowlist.clone()),
            mailer,
            base_url: config.public_base_url(),
            secret,
            log: log.clone(),
        });
        let handle = EngineHandle::default();
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let engine = Arc::new(Engine::new(
            db.clone(),
            config.clone(),
            clock.clone(),
            log.clone(),
            handle.clone(),
            metrics.clone(),
            senders.clone(),
        ));
        let openapi = http::openapi::json(&http::endpoints()).map_err(|e| e.to_string())?;
        let state = web::Data::new(AppState {
            db,
            config: config.clone(),
            clock,
            log: log.clone(),
            throttle: Default::default(),
            engine: handle,
            base_url: config.public_base_url(),
            openapi: Arc::new(openapi),
            intake_limiter: Default::default(),
            route_cache: Default::default(),
            senders: senders.clone(),
            metrics: metrics.clone(),
        });
        engine::start(engine.clone(), roles.scheduler && config.scheduler.enabled);
        let (port, server) = if roles.http {
            let listener = TcpListener::bind(config.server.listen)
                .map_err(|e| format!("cannot listen on {} (server.listen): {e}", config.server.listen))?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let workers = match config.server.workers {
                0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
                n => n,
            };
            let st = state.clone();
            let server = HttpServer::new(move || http::app(st.clone()))
                .workers(workers)
                .disable_signals()
                .listen(listener)
                .map_err(|e| e.to_string())?
                .run();
            info!(log, "listening"; "address" => format!("{}:{port}", config.server.listen.ip()), "public_base_url" => &state.base_url);
            (Some(port), Some(server))
        } else {
            (None, None)
        };
        Ok(Application { port, server, state, engine, log })
    }

    /// The bound port (0 when HTTP is off).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Serves until SIGINT/SIGTERM, then stops gracefully: no new delivery is claimed, HTTP
    /// requests in progress finish, and sends in flight finish and record their results
    /// (within `delivery.timeout_seconds`), so that the next start sends nothing twice.
    pub async fn run_until_stopped(self) -> Result<(), String> {
        let stop = shutdown_signal();
        let server = self.server.map(|s| (s.handle(), tokio::spawn(s)));
        stop.await;
        info!(self.log, "shutting down: no new deliveries; waiting for the ones in flight");
        let grace = std::time::Duration::from_secs(self.state.config.delivery.timeout_seconds + 2);
        let engine = self.engine.clone();
        let sends = tokio::spawn(async move { engine.shutdown(grace).await });
        if let Some((handle, task)) = server {
            handle.stop(true).await;
            let _ = task.await;
        }
        match sends.await {
            Ok(true) => info!(self.log, "stopped"),
            _ => warn!(self.log, "stopped with sends still in flight; they are retried on the next start"),
        }
        Ok(())
    }

    /// Runs the server in the background (tests).
    pub fn spawn(mut self) -> Self {
        if let Some(server) = self.server.take() {
            tokio::spawn(server);
        }
        self
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Creates `admin` with a random one-time password when no admin exists, and logs it once.
/// On PostgreSQL, this process's clock follows the database's (see `clock::OffsetClock`),
/// measured now and every 30 s. A manual clock (tests) and SQLite keep the clock given.
async fn align_clock(db: &Db, clock: SharedClock, log: &Logger) -> SharedClock {
    if db.dialect() != store::Dialect::Postgres || clock.is_manual() {
        return clock;
    }
    let aligned = crate::clock::OffsetClock::new(clock);
    let measure = {
        let (db, aligned, log) = (db.clone(), aligned.clone(), log.clone());
        move || {
            let (db, aligned, log) = (db.clone(), aligned.clone(), log.clone());
            async move {
                let before = aligned.base().now();
                let Ok(Some(remote)) = db.read(store::database_clock).await else { return };
                let offset =
                    crate::clock::OffsetClock::<SharedClock>::offset_from(before, remote, aligned.base().now());
                if (offset - aligned.offset_ms()).abs() > 1000 {
                    warn!(log, "this machine's clock differs from the database's; due times follow the database"; "offset_ms" => offset);
                }
                aligned.set_offset_ms(offset);
            }
        }
    };
    measure().await;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            measure().await;
        }
    });
    aligned
}

async fn ensure_admin(db: &Db, clock: &SharedClock, log: &Logger) -> Result<(), String> {
    let has_admin = db.read(users::count_admins).await.map_err(|e| e.to_string())? > 0;
    if has_admin {
        return Ok(());
    }
    let password = crate::crypto::new_password().map_err(|e| e.to_string())?;
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::crypto::hash_password(&pw))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let ctx = Ctx::new(Actor::system("first-start"), clock.now());
    let input = users::UserInput {
        username: Some("admin".into()),
        display_name: Some("Administrator".into()),
        is_admin: Some(true),
        ..Default::default()
    };
    let created = db
        .write(move |c| {
            if users::count_admins(c)? > 0 {
                return Ok(false);
            }
            users::create(c, &ctx, input, &hash, true)?;
            Ok(true)
        })
        .await;
    match created {
        Ok(true) => {
            warn!(log, "first start: created admin user \"admin\" with one-time password {password} — log in and change it";
                  "username" => "admin", "password" => &password);
            eprintln!(
                "\n  IncidentRelay first start: log in as \"admin\" with password {password}\n  (shown once; you will be asked to change it)\n"
            );
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(store::StoreError::Conflict { .. }) => Err(
            "no active admin exists but a user named \"admin\" does; run `incidentrelay create-admin --username <name> --email <e> --update`".into(),
        ),
        Err(e) => Err(e.to_string()),
    }
}
