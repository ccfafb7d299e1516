//! All SQL lives under `store/`. Store functions are plain `fn(&Read<'_>, ...)` (they only
//! read) or `fn(&Tx<'_>, ...)` (they write) returning `Result<T, StoreError>`; the caller picks
//! `Db::read` or `Db::write` to run them. These handle types are the seam: nothing outside
//! `store/` names a driver, holds SQL or matches on a driver's error text — errors arrive typed
//! (`StoreError::Conflict { constraint, .. }`, `Busy`, `Unavailable`…). Inside, queries go
//! through one small layer (`sql`: values, rows, `?N` placeholders) that runs on either
//! backend:
//!
//! - `sqlite`: the embedded default (`database.path`): a writer thread with group commit and a
//!   read pool;
//! - `pg`: PostgreSQL (`database.url`): a pool, one transaction per write, several nodes on one
//!   database. They coordinate in the database: alert rows claimed `FOR UPDATE [SKIP LOCKED]`
//!   (`alerts::claim`, `alerts::get_locked`, `Read::locks`), delivery leases fenced by
//!   the attempt number (`outbox`), `try_step_lock` and `try_lease` for jobs one node at a time,
//!   and wake-ups by `NOTIFY` after commits that made work (`Tx::wake_engines`).
//!
//! The alert lifecycle is decided in `domain::lifecycle` and applied here (`intake`,
//! `lifecycle`, `escalation`), in the caller's transaction.

pub mod actions;
pub mod alerts;
pub mod audit;
pub mod calendar;
pub mod changes;
pub mod channels;
pub mod config_cache;
pub mod contacts;
pub mod copy;
pub mod escalation;
pub mod groups;
pub mod intake;
pub mod lifecycle;
pub mod outbox;
pub(crate) mod pg;
pub mod policies;
pub mod rotations;
pub mod routes;
pub mod schema;
pub mod setup;
pub mod silences;
pub mod sql;
pub(crate) mod sqlite;
pub mod swaps;
pub mod teams;
pub mod timeline;
pub mod tokens;
pub mod users;

use std::cell::RefCell;
use std::sync::Arc;

use serde::Serialize;

pub use self::sql::{Row, Val, placeholders};
pub use self::sqlite::BackupReport;
use crate::args;
use crate::config::DatabaseConfig;
use crate::domain::time::Ts;
use crate::domain::validate::FieldError;

/// Errors of the storage layer. Cloneable so one commit failure can answer many callers.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The object does not exist (or is not visible).
    NotFound(String),
    /// A uniqueness conflict, or an object still in use. `constraint` names what was violated
    /// (`groups.slug` for a unique key, `foreign_key`, `rule` for a store rule), `field` the
    /// input field at fault (empty when none), `message` says it for people.
    Conflict { constraint: String, field: String, message: String },
    /// Input that only the database can judge (references to other teams' objects…).
    Invalid(Vec<FieldError>),
    /// Another writer held the database longer than `busy_timeout`: try again.
    Busy(String),
    /// The database failed.
    Db(String),
    /// The database is not usable (writer gone, pool exhausted, schema too new…).
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(what) => write!(f, "{what} not found"),
            StoreError::Conflict { constraint, message, .. } => write!(f, "conflict ({constraint}): {message}"),
            StoreError::Busy(m) => write!(f, "database busy: {m}"),
            StoreError::Invalid(errs) => {
                let parts: Vec<_> = errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                write!(f, "invalid: {}", parts.join("; "))
            }
            StoreError::Db(m) => write!(f, "database error: {m}"),
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    pub fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::NotFound(what.into())
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
        StoreError::Invalid(vec![FieldError::new(field, message)])
    }
    /// The same error with its fields named inside a list: `layers[0].` + `start_at`.
    pub fn prefixed(self, prefix: &str) -> StoreError {
        match self {
            StoreError::Invalid(errs) => StoreError::Invalid(
                errs.into_iter().map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message)).collect(),
            ),
            other => other,
        }
    }

    /// A conflict with a store rule ("the last admin", "still used by…"), naming the field.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> StoreError {
        StoreError::Conflict { constraint: "rule".into(), field: field.into(), message: message.into() }
    }
}

impl From<Vec<FieldError>> for StoreError {
    fn from(errs: Vec<FieldError>) -> StoreError {
        StoreError::Invalid(errs)
    }
}

impl From<crate::crypto::CryptoError> for StoreError {
    fn from(e: crate::crypto::CryptoError) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// The handles store functions take

type PgCell = RefCell<r2d2::PooledConnection<pg::Connector>>;

#[derive(Clone, Copy)]
enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a PgCell),
}

/// Which SQL dialect a handle speaks (for the few queries that differ, marked `dialect:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// What a store function that only reads takes: a connection in a read (or the write)
/// transaction. Callers get one from [`Db::read`] or, as a [`Tx`], from [`Db::write`].
pub struct Read<'a> {
    conn: Conn<'a>,
    /// Inside the write transaction (reads there may lock what they decide on).
    write: bool,
    /// The process's cache of paging configuration, when [`Db`] gave one (write transactions).
    cache: std::cell::OnceCell<Arc<config_cache::ConfigCache>>,
    /// The configuration version this transaction read (at its first cached load).
    config_version: std::cell::Cell<Option<i64>>,
    /// This transaction wrote to the configuration: it reads it directly from then on.
    config_written: std::cell::Cell<bool>,
}

/// What a store function that writes takes: the write transaction. It reads too (`&Tx`
/// coerces to `&Read`).
pub struct Tx<'a> {
    read: Read<'a>,
    /// Set by [`Db`] for each transaction: see [`Db::with_mail_fallback`].
    mail_fallback: std::cell::Cell<bool>,
    /// What the transaction made for engines to look at (`pg::WAKE_*` bits; see
    /// [`Tx::wake_engines`]).
    wake: std::cell::Cell<u8>,
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = Read<'a>;
    fn deref(&self) -> &Read<'a> {
        &self.read
    }
}

// SQL goes through these, inside `store/` only.
impl<'a> Read<'a> {
    fn sqlite(c: &'a rusqlite::Connection) -> Read<'a> {
        Read::on(Conn::Sqlite(c))
    }
    fn postgres(c: &'a PgCell) -> Read<'a> {
        Read::on(Conn::Postgres(c))
    }
    fn on(conn: Conn<'a>) -> Read<'a> {
        Read {
            conn,
            write: false,
            cache: Default::default(),
            config_version: Default::default(),
            config_written: Default::default(),
        }
    }

    /// Whether a read the write transaction decides on takes `FOR UPDATE`: on PostgreSQL, so
    /// the rows stay as read until the commit, and the read waits for (and sees) another
    /// process's change to them. Not on SQLite, which has one writer.
    fn locks(&self) -> bool {
        self.write && self.dialect() == Dialect::Postgres
    }

    fn dialect(&self) -> Dialect {
        match self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Notes a write to the configuration (an `INSERT … RETURNING` runs as a query): see
    /// [`config_cache`].
    fn note_write(&self, sql: &str) {
        if config_cache::writes_config(sql) {
            self.config_written.set(true);
        }
    }

    /// Every row, mapped.
    fn rows<T>(&self, sql: &str, args: &[Val], mut f: impl FnMut(&Row<'_>) -> Result<T>) -> Result<Vec<T>> {
        self.note_write(sql);
        match self.conn {
            Conn::Sqlite(c) => sqlite::rows(c, sql, args, f),
            Conn::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, args)?;
                rows.iter().map(|r| f(&Row::postgres(r))).collect()
            }
        }
    }

    /// The first row, mapped, if there is one.
    fn opt<T>(&self, sql: &str, args: &[Val], f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<Option<T>> {
        self.note_write(sql);
        match self.conn {
            Conn::Sqlite(c) => sqlite::first(c, sql, args, f),
            Conn::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, args)?;
                rows.first().map(|r| f(&Row::postgres(r))).transpose()
            }
        }
    }

    /// The first row, mapped; `NotFound` without one.
    fn one<T>(&self, sql: &str, args: &[Val], f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.opt(sql, args, f)?.ok_or_else(|| StoreError::not_found("object"))
    }
}

impl<'a> Tx<'a> {
    fn sqlite(c: &'a rusqlite::Connection) -> Tx<'a> {
        Tx {
            read: Read { write: true, ..Read::sqlite(c) },
            mail_fallback: Default::default(),
            wake: Default::default(),
        }
    }
    fn postgres(c: &'a PgCell) -> Tx<'a> {
        Tx {
            read: Read { write: true, ..Read::postgres(c) },
            mail_fallback: Default::default(),
            wake: Default::default(),
        }
    }

    /// This transaction queues deliveries or sets timers: once it commits, the engines of
    /// other processes look (PostgreSQL: a `NOTIFY` after the commit; SQLite's engine notices
    /// any commit by itself). The writing process wakes its own engine.
    fn wake_engines(&self) {
        self.wake.set(self.wake.get() | pg::WAKE_WORK);
    }

    /// Whether a page to someone with no working notification rule goes to their account's
    /// e-mail address (the installation has a mail server).
    fn mail_fallback(&self) -> bool {
        self.mail_fallback.get()
    }

    /// This transaction changed silences: every engine re-evaluates silenced and firing
    /// alerts.
    pub fn silences_changed(&self) {
        self.wake.set(self.wake.get() | pg::WAKE_SILENCES | pg::WAKE_WORK);
    }

    /// Runs a statement; the number of rows it changed.
    fn exec(&self, sql: &str, args: &[Val]) -> Result<usize> {
        self.read.note_write(sql);
        match self.read.conn {
            Conn::Sqlite(c) => sqlite::exec(c, sql, args),
            Conn::Postgres(c) => Ok(c.borrow_mut().execute(sql, args)? as usize),
        }
    }

    /// Runs an `INSERT … RETURNING id`; the new row's id.
    fn insert(&self, sql: &str, args: &[Val]) -> Result<i64> {
        self.one(sql, args, |r| r.get(0))
    }

    /// Runs statements without arguments (maintenance).
    fn batch(&self, sql: &str) -> Result<()> {
        self.read.config_written.set(true);
        match self.read.conn {
            Conn::Sqlite(c) => sqlite::batch(c, sql),
            Conn::Postgres(c) => c.borrow_mut().batch(sql),
        }
    }
}

/// Serializes a value for a JSON column.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

// ---------------------------------------------------------------------------------------------
// The database

/// What opening may do when the database does not exist yet (SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it only on a genuine first start: nothing of an earlier database (its `-wal`,
    /// `-shm` or lock files) is next to where it should be. A database that vanished is an
    /// error, never silently a new empty one with a new admin.
    FirstStartOnly,
    /// Create it anyway (`--init`).
    Create,
}

/// The database handle; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Backend>,
    /// The installation can send e-mail: a page to someone with no working notification rule
    /// goes to their account's address (see [`Tx::mail_fallback`]).
    mail_fallback: bool,
    /// What paging read of the configuration (see [`config_cache`]).
    cache: Arc<config_cache::ConfigCache>,
}

enum Backend {
    Sqlite(sqlite::SqliteDb),
    Postgres(Box<pg::PgDb>),
}

/// Held while this process may run the engine: the SQLite file lock, or (PostgreSQL) nothing —
/// every node runs engine steps, each guarded in the database.
pub enum Leadership {
    File(#[allow(dead_code)] std::fs::File),
    Shared,
}

/// Called for each wake-up from another process (PostgreSQL): `true` when silences changed.
pub type WakeFn = Arc<dyn Fn(bool) + Send + Sync>;

/// Notices commits made by other processes.
pub enum ChangeWatcher {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Postgres(pg::Listener),
}

impl ChangeWatcher {
    /// A number that changes whenever another process commits something the engine should
    /// look at (blocking; 0 when unknown).
    pub fn version(&self) -> i64 {
        match self {
            ChangeWatcher::Sqlite(c) => c.lock().map(|c| sqlite::data_version(&c)).unwrap_or(0),
            ChangeWatcher::Postgres(l) => l.version(),
        }
    }
}

impl Db {
    /// Opens the database: PostgreSQL when `database.url` is set, else the SQLite file
    /// (created on a genuine first start). Applies pending migrations when `auto_migrate`.
    pub fn open(cfg: &DatabaseConfig) -> Result<Db> {
        Db::open_with(cfg, Missing::FirstStartOnly)
    }

    pub fn open_with(cfg: &DatabaseConfig, missing: Missing) -> Result<Db> {
        let backend = match &cfg.url {
            Some(url) => Backend::Postgres(Box::new(pg::PgDb::open(url, cfg)?)),
            None => Backend::Sqlite(sqlite::SqliteDb::open(cfg, missing)?),
        };
        Ok(Db { inner: Arc::new(backend), mail_fallback: false, cache: Default::default() })
    }

    pub fn dialect(&self) -> Dialect {
        match &*self.inner {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Where the data is, for logs (a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match &*self.inner {
            Backend::Sqlite(s) => s.path.display().to_string(),
            Backend::Postgres(p) => p.url().to_string(),
        }
    }

    /// Whether opening created the database (a first start, or `--init`).
    pub fn created(&self) -> bool {
        match &*self.inner {
            Backend::Sqlite(s) => s.created,
            Backend::Postgres(p) => p.created,
        }
    }

    /// The SQLite database's flushes (`/metrics`); none on PostgreSQL or with
    /// `database.synchronous = "normal"`, where no write waits for one.
    pub fn flushes(&self) -> Option<std::sync::Arc<crate::metrics::FlushStats>> {
        match &*self.inner {
            Backend::Sqlite(s) => s.flushes.clone(),
            Backend::Postgres(_) => None,
        }
    }

    /// Bytes free on the database's file system (`None` where unknown, and on PostgreSQL).
    pub fn disk_free(&self) -> Option<u64> {
        match &*self.inner {
            Backend::Sqlite(s) => s.disk_free(),
            Backend::Postgres(_) => None,
        }
    }

    /// Where the engine's leadership lock lives, for logs.
    pub fn leader_lock(&self) -> String {
        match &*self.inner {
            Backend::Sqlite(s) => sqlite::sidecar(&s.path, "scheduler.lock").display().to_string(),
            Backend::Postgres(_) => "none (PostgreSQL: every node runs engine steps)".into(),
        }
    }

    /// Tries to become a process that runs the engine. SQLite: an exclusive lock on
    /// `<database>.scheduler.lock`, held until dropped or the process dies (the kernel releases
    /// it), so a standby takes over within its retry interval. PostgreSQL: always.
    pub fn try_lead(&self) -> std::io::Result<Option<Leadership>> {
        match &*self.inner {
            Backend::Sqlite(s) => Ok(s.try_lock_leader()?.map(Leadership::File)),
            Backend::Postgres(_) => Ok(Some(Leadership::Shared)),
        }
    }

    /// A cheap way to notice commits made by other processes: SQLite's `data_version`
    /// (polled), or PostgreSQL notifications, for which `on_wake` is called as they arrive
    /// (`true`: silences changed).
    pub fn watch_changes(&self, on_wake: WakeFn) -> Result<ChangeWatcher> {
        match &*self.inner {
            Backend::Sqlite(s) => Ok(ChangeWatcher::Sqlite(std::sync::Mutex::new(s.watcher()?))),
            Backend::Postgres(p) => Ok(ChangeWatcher::Postgres(p.listen(on_wake)?)),
        }
    }

    /// Runs `f` in a write transaction; returns after the commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let f = self.configure(f);
        let result = match &*self.inner {
            Backend::Sqlite(s) => {
                s.submit(f)?.await.map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?
            }
            Backend::Postgres(p) => {
                let shared = p.shared();
                tokio::task::spawn_blocking(move || pg::write(&shared, f))
                    .await
                    .map_err(|e| StoreError::Db(format!("write task failed: {e}")))?
            }
        };
        self.forget_on_failure(result)
    }

    /// Runs `f` in a write transaction on the search index: SQLite keeps it in a file of its
    /// own with a connection of its own (see [`sqlite::SearchIndex`]), so indexing never waits
    /// for or holds up the writer thread; on PostgreSQL it is an ordinary write.
    pub async fn write_search<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        match &*self.inner {
            Backend::Sqlite(s) => {
                let search = s.search.clone();
                tokio::task::spawn_blocking(move || search.write(f))
                    .await
                    .map_err(|e| StoreError::Db(format!("search task failed: {e}")))?
            }
            Backend::Postgres(_) => self.write(f).await,
        }
    }

    /// The installation can send e-mail (`smtp.host` is set): pages to people with no working
    /// notification rule go to their account's address.
    pub fn with_mail_fallback(mut self, on: bool) -> Db {
        self.mail_fallback = on;
        self
    }

    /// `f`, run with this handle's settings on its transaction.
    fn configure<T, F>(&self, f: F) -> impl FnOnce(&Tx<'_>) -> Result<T> + Send + 'static
    where
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let settings = self.settings();
        move |c: &Tx<'_>| {
            settings(c);
            f(c)
        }
    }

    /// What this handle sets on each of its transactions.
    fn settings(&self) -> impl Fn(&Tx<'_>) + Send + Sync + 'static {
        let (mail, cache) = (self.mail_fallback, self.cache.clone());
        move |c: &Tx<'_>| {
            c.mail_fallback.set(mail);
            let _ = c.read.cache.set(cache.clone());
        }
    }

    /// A write that failed may have loaded configuration that never committed.
    fn forget_on_failure<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.cache.clear();
        }
        result
    }

    /// `write` for a decision that may meet a concurrent one (intake on several nodes): on a
    /// conflict with a unique key, or a serialization failure, it runs again (at most 5 times)
    /// and decides on the facts the other transaction left.
    pub async fn write_retrying<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<T> + Send + Sync + 'static,
    {
        match &*self.inner {
            Backend::Sqlite(_) => self.write(f).await,
            Backend::Postgres(p) => {
                let settings = self.settings();
                let f = move |c: &Tx<'_>| {
                    settings(c);
                    f(c)
                };
                let shared = p.shared();
                let result = tokio::task::spawn_blocking(move || pg::write_retrying(&shared, &f))
                    .await
                    .map_err(|e| StoreError::Db(format!("write task failed: {e}")))?;
                self.forget_on_failure(result)
            }
        }
    }

    /// `write` for synchronous callers (CLI commands, blocking threads).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let f = self.configure(f);
        let result = match &*self.inner {
            Backend::Sqlite(s) => {
                s.submit(f)?.blocking_recv().map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?
            }
            Backend::Postgres(p) => pg::write(&p.shared(), f),
        };
        self.forget_on_failure(result)
    }

    /// Runs `f` on a pooled connection off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Read<'_>) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| StoreError::Db(format!("read task failed: {e}")))?
    }

    /// `read` for synchronous callers.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Read<'_>) -> Result<T>,
    {
        match &*self.inner {
            Backend::Sqlite(s) => sqlite::read_with(&s.readers(), f),
            Backend::Postgres(p) => pg::read(&p.shared(), f),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema versions, maintenance, settings

/// The highest migration version this binary knows (the same for both backends).
pub fn latest_known_version() -> i32 {
    sqlite::known_versions().into_iter().max().unwrap_or(0)
}

/// Refuses a database written by a newer version.
fn refuse_newer(applied: i32) -> Result<()> {
    let known = latest_known_version();
    if applied > known {
        return Err(StoreError::Unavailable(format!(
            "the database schema is version {applied} but this binary only knows up to {known}: \
             it was written by a newer IncidentRelay. Upgrade the binary (or restore a backup); refusing to touch it"
        )));
    }
    Ok(())
}

/// `incidentrelay migrate`: makes sure the database exists (SQLite: see [`Missing`]) and applies
/// pending migrations. Returns whether it was created and which versions were applied.
pub fn migrate_database(cfg: &DatabaseConfig, missing: Missing) -> Result<(bool, Vec<i32>)> {
    match &cfg.url {
        Some(url) => pg::migrate_url(url),
        None => sqlite::migrate_database(cfg, missing),
    }
}

/// `incidentrelay backup`: a consistent copy of a SQLite database (PostgreSQL has `pg_dump`).
pub fn backup(cfg: &DatabaseConfig, dest: &std::path::Path) -> Result<BackupReport> {
    match &cfg.url {
        Some(_) => Err(StoreError::Unavailable("backups of PostgreSQL are pg_dump's job".into())),
        None => sqlite::backup(&cfg.path, dest, u64::from(cfg.busy_timeout_ms)),
    }
}

/// Where a SQLite database at `db_path` keeps its search index: `<database>.search`, derived
/// from the alerts and rebuilt when missing or damaged (see `sqlite::SearchIndex`).
pub fn search_path(db_path: &std::path::Path) -> std::path::PathBuf {
    sqlite::search_path(db_path)
}

/// `incidentrelay check-schema`: the database's schema version and what it lacks, read without
/// changing anything (SQLite: the file opened read-only; PostgreSQL: no migration).
pub fn inspect(cfg: &DatabaseConfig) -> Result<(i32, Vec<String>)> {
    match &cfg.url {
        Some(url) => pg::with_read(url, schema::inspect),
        None => {
            if !cfg.path.exists() {
                return Err(StoreError::Unavailable(format!(
                    "database {} does not exist (run `incidentrelay migrate` or `serve` first)",
                    cfg.path.display()
                )));
            }
            let conn = sqlite::open_read_only(&cfg.path)?;
            schema::inspect(&Read::sqlite(&conn))
        }
    }
}

/// Where `cfg` keeps the data, for messages (a PostgreSQL URL without its password).
pub fn describe(cfg: &DatabaseConfig) -> String {
    match &cfg.url {
        Some(url) => redact_url(url),
        None => cfg.path.display().to_string(),
    }
}

/// Transactions run again after meeting another process's (`/metrics`).
pub fn retries() -> u64 {
    pg::RETRIES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A PostgreSQL URL with its password hidden.
pub fn redact_url(url: &str) -> String {
    pg::redacted(url)
}

/// The schema version applied to this database.
pub fn schema_version(r: &Read<'_>) -> Result<i32> {
    let exists: bool = match r.dialect() {
        Dialect::Sqlite => r.one(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
            &[],
            |x| x.get(0),
        )?,
        Dialect::Postgres => r.one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[], |x| x.get(0))?,
    };
    if !exists {
        return Ok(0);
    }
    r.one("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history", &[], |x| x.get(0))
}

/// The database's clock (PostgreSQL; `None` for SQLite, which is on this machine's).
pub fn database_clock(r: &Read<'_>) -> Result<Option<Ts>> {
    match r.dialect() {
        Dialect::Sqlite => Ok(None),
        Dialect::Postgres => r
            .one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &[], |x| x.get::<i64, _>(0))
            .map(|ms| Some(Ts::from_ms(ms))),
    }
}

/// Readiness, read side: the database answers; returns the applied schema version.
pub fn ready_to_read(r: &Read<'_>) -> Result<i32> {
    r.one("SELECT 1", &[], |x| x.get::<i64, _>(0))?;
    schema_version(r)
}

/// Readiness, write side: a real (tiny) committed write, so that a full disk or a deleted
/// database file shows as not ready.
pub fn ready_to_write(tx: &Tx<'_>, now: Ts) -> Result<()> {
    set_setting(tx, "ready_probe", &now.ms().to_string())
}

/// Refreshes the query planner's statistics (cheap when little changed; run after retention).
pub fn optimize(tx: &Tx<'_>) -> Result<()> {
    match tx.dialect() {
        Dialect::Sqlite => tx.batch("PRAGMA optimize"),
        // dialect: autovacuum analyzes PostgreSQL's tables.
        Dialect::Postgres => Ok(()),
    }
}

/// Takes a lock for the rest of the transaction, or learns that another process holds it
/// (PostgreSQL's `pg_try_advisory_xact_lock`: released at commit or rollback, so it works
/// behind a transaction-mode pooler and dies with its connection). SQLite has one engine: yes.
pub fn try_step_lock(tx: &Tx<'_>, key: i64) -> Result<bool> {
    match tx.dialect() {
        Dialect::Sqlite => Ok(true),
        Dialect::Postgres => tx.one("SELECT pg_try_advisory_xact_lock(?1)", args![key], |r| r.get(0)),
    }
}

/// A lease on a named job (polling a chat provider…) for `holder` until `now + secs`: true when
/// `holder` has it, renewed; false while another holder's lease runs.
pub fn try_lease(tx: &Tx<'_>, name: &str, holder: &str, now: Ts, secs: i64) -> Result<bool> {
    let key = format!("lease:{name}");
    let value = format!("{}|{holder}", now.plus_secs(secs).ms());
    tx.exec("INSERT INTO settings (key, value) VALUES (?1, '0|') ON CONFLICT(key) DO NOTHING", args![key])?;
    let current = get_setting(tx, &key)?.unwrap_or_default();
    let (until, who) = current.split_once('|').unwrap_or(("0", ""));
    let free = who == holder || until.parse::<i64>().unwrap_or(0) <= now.ms();
    if !free {
        return Ok(false);
    }
    // Conditional on the value read: of two processes taking a free lease at once, one wins.
    let n = tx.exec("UPDATE settings SET value = ?1 WHERE key = ?2 AND value = ?3", args![value, key, current])?;
    Ok(n == 1)
}

/// Reads a value from the `settings` table.
pub fn get_setting(r: &Read<'_>, key: &str) -> Result<Option<String>> {
    r.opt("SELECT value FROM settings WHERE key = ?1", args![key], |x| x.get(0))
}

pub fn set_setting(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.exec(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        args![key, value],
    )?;
    Ok(())
}

/// The installation's secret for signing action links and callbacks, created on first use
/// (the first node to create it wins; the others read it).
pub fn server_secret(tx: &Tx<'_>) -> Result<Vec<u8>> {
    if let Some(v) = get_setting(tx, "server_secret")?
        && let Some(bytes) = crate::crypto::b64url_decode(&v)
    {
        return Ok(bytes);
    }
    let bytes = crate::crypto::random_bytes::<32>()?;
    tx.exec(
        "INSERT INTO settings (key, value) VALUES ('server_secret', ?1) ON CONFLICT(key) DO NOTHING",
        args![crate::crypto::b64url(&bytes)],
    )?;
    let stored = get_setting(tx, "server_secret")?.and_then(|v| crate::crypto::b64url_decode(&v));
    stored.ok_or_else(|| StoreError::Db("the installation secret could not be stored".into()))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A migrated database in a temp directory.
    pub fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig { path: dir.path().join("t.db"), ..DatabaseConfig::default() };
        (Db::open(&cfg).expect("open"), dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commit_isolates_failing_jobs() {
        let (db, _dir) = testing::db();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ok = db.write(|c| c.exec("INSERT INTO settings (key, value) VALUES ('a', '1')", &[]));
            let bad = db.write(|c| {
                c.exec("INSERT INTO settings (key, value) VALUES ('b', '2')", &[])?;
                Err::<(), _>(StoreError::invalid("x", "no"))
            });
            let dup = db.write(|c| c.exec("INSERT INTO settings (key, value) VALUES ('a', '3')", &[]));
            let (ok, bad, dup) = tokio::join!(ok, bad, dup);
            assert_eq!(ok.unwrap(), 1);
            assert!(matches!(bad, Err(StoreError::Invalid(_))));
            assert!(matches!(dup, Err(StoreError::Conflict { ref constraint, ref field, .. }) if constraint == "settings.key" && field == "key"));
            let keys = db
                .read(|c| c.rows("SELECT key || value FROM settings ORDER BY key", &[], |r| r.get::<String, _>(0)))
                .await
                .unwrap();
            assert_eq!(keys, ["a1"], "the failed job's insert was rolled back, the others kept");
        });
    }

    #[test]
    fn migrations_are_numbered_one_after_another_and_alike_on_both_backends() {
        let mut versions = sqlite::known_versions();
        versions.sort_unstable();
        let expected: Vec<i32> = (1..=versions.len() as i32).collect();
        assert_eq!(versions, expected, "migrations are V1, V2, … without gaps or repeats");
        let mut pg = pg::known_versions();
        pg.sort_unstable();
        assert_eq!(pg, versions, "migrations/postgres has the same versions as migrations/sqlite");
        assert_eq!(latest_known_version(), versions.len() as i32);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let err = refuse_newer(latest_known_version() + 1).unwrap_err();
        assert!(err.to_string().contains("newer IncidentRelay"), "{err}");
        assert!(refuse_newer(latest_known_version()).is_ok());
    }
}
