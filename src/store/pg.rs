//! The PostgreSQL backend (`database.url`): a pool of connections, each with its own cache of
//! prepared statements; one transaction per `Db::write`; the same SQL as SQLite, translated
//! here (`?N` placeholders become `$N`, SQLite's `INDEXED BY` hints go). Errors are mapped to
//! `StoreError` by SQLSTATE, never by message text. Several nodes share one database; what
//! is theirs here is the notifier (`NOTIFY` after commits that made work) and the listener
//! (`LISTEN`, one connection per node). Row claims, leases and locks are SQL in the store
//! modules (see `store`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::Val;
use super::{Result, StoreError};

/// One connection and its prepared statements (keyed by the store's SQL text).
pub struct PgConn {
    /// Always there until dropped (see the `Drop` impl).
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

/// The synchronous driver closes a connection by blocking on its own runtime, which must not
/// happen on an async worker (the last handle of a pool may go away there, at shutdown):
/// there, the connection is closed on a thread of its own.
impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(client));
        }
    }
}

impl PgConn {
    fn new(client: postgres::Client) -> PgConn {
        PgConn { client: Some(client), statements: HashMap::new() }
    }

    fn client(&mut self) -> Result<&mut postgres::Client> {
        self.client.as_mut().ok_or_else(|| StoreError::Unavailable("PostgreSQL: the connection is closed".into()))
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client()?.prepare(&translate(sql)).map_err(|e| match error(e) {
            // A statement PostgreSQL cannot prepare is a bug: say which.
            StoreError::Db(m) => {
                StoreError::Db(format!("{m}; in: {}", sql.split_whitespace().collect::<Vec<_>>().join(" ")))
            }
            other => other,
        })?;
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub fn query(&mut self, sql: &str, args: &[Val]) -> Result<Vec<postgres::Row>> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.client()?.query(&st, &params).map_err(error)
    }

    pub fn execute(&mut self, sql: &str, args: &[Val]) -> Result<u64> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.client()?.execute(&st, &params).map_err(error)
    }

    /// Runs statements without parameters (transaction control, migrations).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        self.client()?.batch_execute(sql).map_err(error)
    }
}

/// Rewrites the store's SQL for PostgreSQL: `?N` → `$N`, a bare `?` → the next number, and
/// SQLite's `INDEXED BY <index>` hints removed (dialect).
pub fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0usize;
    let mut chars = sql.char_indices().peekable();
    let mut in_string = false;
    let mut last = 0;
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => in_string = !in_string,
            '?' if !in_string => {
                out.push_str(&sql[last..i]);
                let mut digits = String::new();
                while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = match digits.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => highest + 1,
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                last = chars.peek().map_or(sql.len(), |(j, _)| *j);
                continue;
            }
            _ => {}
        }
        let _ = i;
    }
    out.push_str(&sql[last..]);
    strip_indexed_by(&out)
}

fn strip_indexed_by(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("INDEXED BY ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "INDEXED BY ".len()..];
        let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        rest = after[end..].trim_start();
        out.push(' ');
    }
    out.push_str(rest);
    out
}

/// A column of a row as a value (integers of every width and booleans as integers).
pub fn column(row: &postgres::Row, i: usize) -> std::result::Result<Val, String> {
    let ty = row.columns()[i].type_();
    let e = |e: postgres::Error| e.to_string();
    Ok(match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(e)?.map_or(Val::Null, Val::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(e)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(e)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(e)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(e)?.map_or(Val::Null, Val::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(e)?.map_or(Val::Null, |v| Val::Real(v.into())),
        _ => row.try_get::<_, Option<String>>(i).map_err(e)?.map_or(Val::Null, Val::Text),
    })
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Val::Null, _) => Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Val::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Val::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Val::Int(i), _) => i.to_string().to_sql(ty, out),
            (Val::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Val::Real(f), &Type::INT8) => (*f as i64).to_sql(ty, out),
            (Val::Real(f), _) => f.to_string().to_sql(ty, out),
            (Val::Text(s), &Type::INT8) => s.parse::<i64>()?.to_sql(ty, out),
            (Val::Text(s), &Type::INT4) => s.parse::<i32>()?.to_sql(ty, out),
            // PostgreSQL's text cannot hold NUL characters (SQLite's can).
            (Val::Text(s), _) if s.contains('\0') => s.replace('\0', "\u{FFFD}").to_sql(ty, out),
            (Val::Text(s), _) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Maps a driver error by its SQLSTATE: unique and foreign-key violations are conflicts,
/// serialization failures and deadlocks are `Busy` (try again), a lost connection is
/// `Unavailable`.
pub fn error(e: postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::Unavailable(format!("PostgreSQL: {e}"));
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        let constraint = db.constraint().unwrap_or("unique").to_string();
        let field = unique_field(db.detail().unwrap_or(""));
        let message = format!("an object with this {field} already exists");
        StoreError::Conflict { constraint, field, message }
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        StoreError::Conflict {
            constraint: "foreign_key".into(),
            field: String::new(),
            message: "the object is still referenced by other objects".into(),
        }
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        StoreError::Busy(db.message().to_string())
    } else if code.code().starts_with("08") || code.code().starts_with("57") || code.code().starts_with("53") {
        StoreError::Unavailable(format!("PostgreSQL: {}", db.message()))
    } else {
        StoreError::Db(format!("PostgreSQL {}: {}", code.code(), db.message()))
    }
}

/// The last column a unique violation's detail names: `Key (team_id, slug)=(1, x) already
/// exists.` → `slug`.
fn unique_field(detail: &str) -> String {
    detail
        .strip_prefix("Key (")
        .and_then(|r| r.split_once(")="))
        .map(|(cols, _)| cols.rsplit(", ").next().unwrap_or("").trim_matches('"').to_string())
        .unwrap_or_default()
}

// --- connecting ---------------------------------------------------------------------------------

/// `database.url` with the password hidden, for logs and errors.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:********@{host}")
            }
            None => url.to_string(),
        },
        None => "(not a URL)".into(),
    }
}

/// TLS as `sslmode` asks: `disable`; `prefer` and `require` encrypt without checking the
/// certificate (as libpq does); `verify-ca` and `verify-full` check it against the web's roots
/// or `sslrootcert` (and the host name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    Verify,
}

/// Parses `database.url` (`postgres://user:pass@host:port/db?sslmode=…&sslrootcert=…`).
fn parse(url: &str) -> Result<(postgres::Config, SslMode, Option<String>)> {
    let bad = |m: String| StoreError::Unavailable(format!("database.url: {m}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                mode = match v {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" | "verify-full" => SslMode::Verify,
                    other => return Err(bad(format!("unknown sslmode {other:?}"))),
                }
            }
            "sslrootcert" => root = Some(v.to_string()),
            _ => rest.push(pair),
        }
    }
    let plain = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    let mut config: postgres::Config = plain.parse().map_err(|e| bad(format!("{e}")))?;
    config.ssl_mode(match mode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Prefer => postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::Verify => postgres::config::SslMode::Require,
    });
    config.application_name("incidentrelay");
    config.connect_timeout(Duration::from_secs(5));
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    Ok((config, mode, root))
}

fn tls(mode: SslMode, root: Option<&str>) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unavailable(format!("TLS: {e}")))?;
    let config = match mode {
        SslMode::Verify => {
            let mut roots = rustls::RootCertStore::empty();
            match root {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| StoreError::Unavailable(format!("database.url sslrootcert {path}: {e}")))?;
                    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
                        .filter_map(|c: std::result::Result<rustls_pki_types::CertificateDer<'_>, _>| c.ok())
                    {
                        roots.add(cert).map_err(|e| StoreError::Unavailable(format!("sslrootcert: {e}")))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `sslmode=prefer|require`: encrypted, certificate not checked (libpq's meaning).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens connections for the pool (and the listener).
#[derive(Clone)]
pub struct Connector {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    pub url: String,
}

impl Connector {
    pub fn new(url: &str) -> Result<Connector> {
        let (config, mode, root) = parse(url)?;
        Ok(Connector { config, tls: tls(mode, root.as_deref())?, url: redacted(url) })
    }

    pub fn connect(&self) -> Result<postgres::Client> {
        self.config
            .connect(self.tls.clone())
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to {}: {e}", self.url)))
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = PgConn;
    type Error = StoreError;

    fn connect(&self) -> Result<PgConn> {
        Ok(PgConn::new(Connector::connect(self)?))
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<()> {
        conn.client()?.simple_query("").map(|_| ()).map_err(error)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.as_ref().is_none_or(postgres::Client::is_closed)
    }
}

pub type Pool = r2d2::Pool<Connector>;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// The migrations this binary knows, by version.
#[cfg(test)]
pub fn known_versions() -> Vec<i32> {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).collect()
}

/// The highest migration version applied (0 for a database without the schema).
fn applied_version(client: &mut postgres::Client) -> Result<i32> {
    let exists: bool =
        client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).map_err(error)?.get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client.query_one("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history", &[]).map_err(error)?.get(0))
}

/// An advisory lock key for migrations ("incidentrelay migrate" as a number): two nodes
/// starting together migrate one after the other.
const MIGRATION_LOCK: i64 = 0x1f2e_3d4c_5b6a_0001;

/// Applies pending migrations under an advisory lock; returns (created, versions applied):
/// `created` when the database had no schema yet.
fn migrate(connector: &Connector) -> Result<(bool, Vec<i32>)> {
    let mut client = connector.connect()?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(error)?;
    let result = (|| {
        let applied = applied_version(&mut client)?;
        super::refuse_newer(applied)?;
        let report = embedded::migrations::runner()
            .set_grouped(true)
            .run(&mut client)
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok((applied == 0, report.applied_migrations().iter().map(|m| m.version()).collect()))
    })();
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

/// `incidentrelay migrate` on PostgreSQL: (created, versions applied).
pub fn migrate_url(url: &str) -> Result<(bool, Vec<i32>)> {
    migrate(&Connector::new(url)?)
}

/// A connection of its own, outside the pool (`copy-data`).
pub fn connect(url: &str) -> Result<PgConn> {
    Ok(PgConn::new(Connector::new(url)?.connect()?))
}

/// The PostgreSQL database of this process.
pub struct PgDb {
    shared: Shared,
    connector: Connector,
    pub created: bool,
}

/// What a transaction needs: the pool, the gate that bounds this process's write
/// transactions, and the notifier that tells other processes about work once it committed.
#[derive(Clone)]
pub struct Shared {
    pool: Pool,
    writers: Arc<Gate>,
    notifier: Arc<Notifier>,
}

/// At most this many write transactions of one process run at once (four per core, at least
/// two, and one connection of the pool always left for reads). More only queue inside
/// PostgreSQL for the same index pages and the same referenced rows: on 2 cores an intake
/// storm ran at 2,247 new alerts/s with 16 at once and 2,429 with 8 (p99 41 → 33 ms;
/// `benches/postgres-ha.py`, medians of 3).
fn write_concurrency(pool_size: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (4 * cores).min(pool_size.saturating_sub(1) as usize).max(1)
}

/// A counting semaphore for blocking threads.
struct Gate {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Gate {
    fn new(permits: usize) -> Gate {
        Gate { free: std::sync::Mutex::new(permits), freed: std::sync::Condvar::new() }
    }

    fn enter(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

impl PgDb {
    pub fn open(url: &str, cfg: &crate::config::DatabaseConfig) -> Result<PgDb> {
        let connector = Connector::new(url)?;
        let created = if cfg.auto_migrate {
            migrate(&connector)?.0
        } else {
            let applied = applied_version(&mut connector.connect()?)?;
            super::refuse_newer(applied)?;
            if applied < super::latest_known_version() {
                return Err(StoreError::Unavailable(format!(
                    "the database is at schema version {applied}; run `incidentrelay migrate` or set database.auto_migrate = true"
                )));
            }
            false
        };
        let pool = pool(connector.clone(), cfg.pool_size)?;
        let notifier = Arc::new(Notifier::start(connector.clone())?);
        let writers = Arc::new(Gate::new(write_concurrency(cfg.pool_size)));
        Ok(PgDb { shared: Shared { pool, writers, notifier }, connector, created })
    }

    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    pub fn url(&self) -> &str {
        &self.connector.url
    }

    /// Listens for other processes' wake-ups on a connection of its own; `on_wake` runs on
    /// the listener's thread (with `true` when silences changed).
    pub fn listen(&self, on_wake: super::WakeFn) -> Result<Listener> {
        Listener::start(self.connector.clone(), on_wake)
    }
}

/// The channel committed writes notify on.
pub const CHANNEL: &str = "incidentrelay";

/// What a wake-up is about (bits of [`super::Tx`]'s wake flags).
pub const WAKE_WORK: u8 = 1;
pub const WAKE_SILENCES: u8 = 2;

/// Sends `NOTIFY incidentrelay` for commits that made work, from a connection of its own and
/// after the commit (a `NOTIFY` inside the writing transaction would serialize every such
/// commit, fsync included, on PostgreSQL's notification lock). Wake-ups that arrive while
/// one is being sent are folded into the next.
pub struct Notifier {
    pending: Arc<(std::sync::Mutex<u8>, std::sync::Condvar)>,
}

impl Notifier {
    fn start(connector: Connector) -> Result<Notifier> {
        let pending = Arc::new((std::sync::Mutex::new(0u8), std::sync::Condvar::new()));
        let p2 = pending.clone();
        std::thread::Builder::new()
            .name("pg-notify".into())
            .spawn(move || {
                let mut client: Option<postgres::Client> = None;
                loop {
                    let bits = {
                        let (lock, cvar) = &*p2;
                        let Ok(mut bits) = lock.lock() else { return };
                        while *bits == 0 {
                            bits = match cvar.wait(bits) {
                                Ok(b) => b,
                                Err(_) => return,
                            };
                        }
                        std::mem::take(&mut *bits)
                    };
                    let payload = if bits & WAKE_SILENCES != 0 { "silences" } else { "work" };
                    if client.as_ref().is_none_or(|c| c.is_closed()) {
                        client = connector.connect().ok();
                    }
                    let sent = client
                        .as_mut()
                        .is_some_and(|c| c.batch_execute(&format!("NOTIFY {CHANNEL}, '{payload}'")).is_ok());
                    if !sent {
                        // The database is away: the other engines poll every tick meanwhile.
                        client = None;
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the notifier: {e}")))?;
        Ok(Notifier { pending })
    }

    fn wake(&self, bits: u8) {
        if bits == 0 {
            return;
        }
        let (lock, cvar) = &*self.pending;
        if let Ok(mut b) = lock.lock() {
            *b |= bits;
            cvar.notify_one();
        }
    }
}

/// Counts notifications on [`CHANNEL`] and calls back for each, reconnecting by itself.
pub struct Listener {
    count: Arc<std::sync::atomic::AtomicI64>,
}

impl Listener {
    fn start(connector: Connector, on_wake: super::WakeFn) -> Result<Listener> {
        use postgres::fallible_iterator::FallibleIterator;
        let count = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let c2 = count.clone();
        std::thread::Builder::new()
            .name("pg-listen".into())
            .spawn(move || {
                loop {
                    if let Ok(mut client) = connector.connect()
                        && client.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok()
                    {
                        // A reconnect may have missed notifications: count it as one.
                        c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        on_wake(true);
                        loop {
                            let next = client.notifications().timeout_iter(Duration::from_secs(30)).next();
                            match next {
                                Ok(Some(n)) => {
                                    c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    on_wake(n.payload() == "silences");
                                }
                                // Quiet for a while: check the connection is alive.
                                Ok(None) if client.simple_query("").is_ok() => {}
                                _ => break,
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the listener: {e}")))?;
        Ok(Listener { count })
    }

    /// How many wake-ups arrived (a reconnect counts as one).
    pub fn version(&self) -> i64 {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A pooled connection with a transaction begun. A connection found dead at `BEGIN` (the
/// database restarted since it was last used) is dropped and another taken: nothing was sent
/// on it, so this is safe to repeat.
fn begin(pool: &Pool) -> Result<r2d2::PooledConnection<Connector>> {
    let mut tries = 0;
    loop {
        let mut conn = pool.get()?;
        match conn.batch("BEGIN") {
            Ok(()) => return Ok(conn),
            Err(StoreError::Unavailable(_)) if tries < pool.max_size() => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Runs `f` in one transaction on a pooled connection; commits when it succeeds, then wakes
/// other processes' engines if it made work.
pub fn write<T>(db: &Shared, f: impl FnOnce(&super::Tx<'_>) -> Result<T>) -> Result<T> {
    let _permit = db.writers.enter();
    let cell = std::cell::RefCell::new(begin(&db.pool)?);
    let tx = super::Tx::postgres(&cell);
    let out = f(&tx);
    let wake = tx.wake.get();
    let mut conn = cell.borrow_mut();
    match out {
        Ok(v) => {
            conn.batch("COMMIT")?;
            db.notifier.wake(wake);
            Ok(v)
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// `write`, again on a unique-key conflict or a serialization failure (at most 5 times).
pub fn write_retrying<T>(db: &Shared, f: &dyn Fn(&super::Tx<'_>) -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        match write(db, f) {
            // A unique key another transaction took meanwhile (not a store rule's conflict,
            // which deciding again would only repeat), or a serialization failure.
            Err(StoreError::Conflict { constraint, .. })
                if tries < 4 && constraint != "rule" && constraint != "foreign_key" =>
            {
                tries += 1;
                RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(StoreError::Busy(_)) if tries < 4 => {
                tries += 1;
                RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            other => return other,
        }
    }
}

/// How many transactions were run again after a conflict (`/metrics`).
pub static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `f` on a pooled connection (each statement on its own).
pub fn read<T>(db: &Shared, f: impl FnOnce(&super::Read<'_>) -> Result<T>) -> Result<T> {
    let conn = db.pool.get()?;
    let cell = std::cell::RefCell::new(conn);
    f(&super::Read::postgres(&cell))
}

/// Runs `f` on a connection of its own, without migrating (`check-schema`, `copy-data`).
pub fn with_read<T>(url: &str, f: impl FnOnce(&super::Read<'_>) -> Result<T>) -> Result<T> {
    let pool = pool(Connector::new(url)?, 1)?;
    let cell = std::cell::RefCell::new(pool.get()?);
    f(&super::Read::postgres(&cell))
}

/// The pool: `size` connections, failing fast (5 s) when the database is down.
pub fn pool(connector: Connector, size: u32) -> Result<Pool> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // A dead connection shows at its first use (and is dropped); no round trip per
        // checkout.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(5))
        .build(connector)
        .map_err(|e| StoreError::Unavailable(format!("cannot open PostgreSQL connections: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_gate_lets_through_at_most_its_permits_and_leaves_a_connection_for_reads() {
        let gate = Arc::new(Gate::new(2));
        let (first, second) = (gate.enter(), gate.enter());
        let (entered, rx) = std::sync::mpsc::channel();
        let third = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let _permit = gate.enter();
                let _ = entered.send(());
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "a third writer waits");
        drop(first);
        rx.recv().unwrap();
        third.join().unwrap();
        drop(second);
        assert_eq!(*gate.free.lock().unwrap(), 2, "every permit came back");
        assert_eq!(write_concurrency(2), 1, "the smallest pool keeps one connection for reads");
        assert!(write_concurrency(500) >= 4);
    }

    #[test]
    fn placeholders_and_hints_are_translated() {
        assert_eq!(translate("SELECT * FROM a WHERE x = ?1 AND y = ?2"), "SELECT * FROM a WHERE x = $1 AND y = $2");
        assert_eq!(translate("SELECT ?1, ?, ?"), "SELECT $1, $2, $3");
        assert_eq!(translate("SELECT '?1' , ?2"), "SELECT '?1' , $2", "not inside strings");
        assert_eq!(
            translate("SELECT id FROM alerts INDEXED BY alerts_next_action WHERE x = ?1"),
            "SELECT id FROM alerts  WHERE x = $1"
        );
        assert_eq!(translate("a IN (?,?,?) AND b = ?1"), "a IN ($1,$2,$3) AND b = $1");
    }

    #[test]
    fn urls_are_parsed_and_never_shown_with_their_password() {
        assert_eq!(
            redacted("postgres://ir:s3cret@db:5432/ir?sslmode=require"),
            "postgres://ir:********@db:5432/ir?sslmode=require"
        );
        let (c, mode, root) =
            parse("postgres://ir:s3cret@db.example:6432/oncall?sslmode=verify-full&sslrootcert=/etc/ca.pem").unwrap();
        assert_eq!((mode, root.as_deref()), (SslMode::Verify, Some("/etc/ca.pem")));
        assert_eq!(c.get_dbname(), Some("oncall"));
        assert_eq!(c.get_ports(), [6432]);
        assert!(parse("postgres://x@h/d?sslmode=maybe").is_err());
        assert_eq!(unique_field("Key (team_id, slug)=(1, infra) already exists."), "slug");
    }
}
