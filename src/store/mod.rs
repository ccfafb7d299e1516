//! All SQL lives under `store/`. This module owns the database handle:
//!
//! - one **writer thread** owns the only read-write connection. Callers send it jobs; it drains
//!   whatever is queued, runs each job in its own SAVEPOINT inside one `BEGIN IMMEDIATE`
//!   transaction, commits once and then answers every caller (group commit: one fsync for many
//!   requests). A job that fails is rolled back to its savepoint without touching the others.
//! - a small **pool of read-only connections**, used through `spawn_blocking`, so no SQLite call
//!   ever runs on an async worker thread.
//!
//! Store functions are plain `fn(&Read<'_>, ...)` (they only read) or `fn(&Tx<'_>, ...)` (they
//! write) returning `Result<T, StoreError>`; the caller picks `Db::read` or `Db::write` to run
//! them. These handle types are the seam: nothing outside `store/` names the driver, holds SQL
//! or matches on a driver's error text — errors arrive typed (`StoreError::Conflict { constraint,
//! .. }`, `Busy`, `Unavailable`…). The alert lifecycle is decided in `domain::lifecycle` and
//! applied here (`intake`, `lifecycle`, `escalation`), in the caller's transaction.

pub mod alerts;
pub mod audit;
pub mod calendar;
pub mod channels;
pub mod escalation;
pub mod groups;
pub mod intake;
pub mod lifecycle;
pub mod outbox;
pub mod policies;
pub mod rotations;
pub mod routes;
pub mod schema;
pub mod silences;
pub mod teams;
pub mod timeline;
pub mod tokens;
pub mod users;

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{DatabaseConfig, Synchronous};
use crate::domain::time::Ts;
use crate::domain::validate::FieldError;

mod embedded {
    refinery::embed_migrations!("migrations");
}

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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("object".into()),
            // Classified by SQLite's extended result codes. For a unique key SQLite names the
            // violated columns only in the message (`UNIQUE constraint failed: groups.slug`),
            // so that is where the constraint's name comes from.
            rusqlite::Error::SqliteFailure(f, msg)
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                let constraint =
                    msg.as_deref().and_then(|m| m.split_once(": ")).map(|(_, cols)| cols).unwrap_or("unique");
                let field = constraint.rsplit(", ").next().and_then(|c| c.rsplit('.').next()).unwrap_or("").to_string();
                let message = format!("an object with this {field} already exists");
                StoreError::Conflict { constraint: constraint.to_string(), field, message }
            }
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                StoreError::Conflict {
                    constraint: "foreign_key".into(),
                    field: String::new(),
                    message: "the object is still referenced by other objects".into(),
                }
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                StoreError::Busy(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::ReadOnly | ErrorCode::CannotOpen
                ) =>
            {
                StoreError::Unavailable(format!("the database is unavailable: {e}"))
            }
            _ => StoreError::Db(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> StoreError {
        StoreError::Unavailable(format!("no read connection: {e}"))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.ms()))
    }
}

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Ts::from_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// The handles store functions take

/// What a store function that only reads takes: a connection in a read transaction (from the
/// read pool) or in the write transaction. Nothing outside `store/` sees the driver: callers get
/// one from [`Db::read`] or, as a [`Tx`], from [`Db::write`].
pub struct Read<'a> {
    pub(in crate::store) conn: &'a Connection,
}

/// What a store function that writes takes: the write transaction (one job's savepoint inside
/// the writer's group commit). It reads too (`&Tx` coerces to `&Read`).
pub struct Tx<'a> {
    read: Read<'a>,
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = Read<'a>;
    fn deref(&self) -> &Read<'a> {
        &self.read
    }
}

// SQL goes through these, inside `store/` only. `q_row` and `exec` use the connection's
// prepared-statement cache: SQL is compiled once per connection, not once per call (the hot
// path runs the same few statements thousands of times a second).
impl<'a> Read<'a> {
    fn prepare(&self, sql: &str) -> rusqlite::Result<rusqlite::Statement<'a>> {
        self.conn.prepare(sql)
    }
    fn prepare_cached(&self, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'a>> {
        self.conn.prepare_cached(sql)
    }
    fn query_row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.conn.query_row(sql, params, f)
    }
    fn q_row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }
}

impl Tx<'_> {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.read.conn.prepare_cached(sql)?.execute(params)
    }
    fn last_insert_rowid(&self) -> i64 {
        self.read.conn.last_insert_rowid()
    }
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Serializes a value for a JSON column.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Reads a JSON column inside a row mapper.
pub fn json_col<T: DeserializeOwned>(row: &rusqlite::Row<'_>, idx: &str) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// An error for a JSON value that cannot be read back (corrupt column).
pub fn bad_json(e: serde_json::Error) -> FromSqlError {
    FromSqlError::Other(Box::new(e))
}

// ---------------------------------------------------------------------------------------------
// The handle

trait WriteJob: Send {
    /// Runs inside the open transaction; true when the job succeeded (keep its savepoint).
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<()>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let Some(f) = self.f.take() else { return false };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(StoreError::Db("a write job panicked; it was rolled back".into())));
        let ok = outcome.is_ok();
        self.result = Some(outcome);
        ok
    }
    fn finish(self: Box<Self>, commit: Result<()>) {
        let out = match (commit, self.result) {
            (Err(e), Some(Ok(_))) => Err(e),
            (_, Some(r)) => r,
            (Err(e), None) => Err(e),
            (Ok(()), None) => Err(StoreError::Db("write job did not run".into())),
        };
        let _ = self.reply.send(out);
    }
}

/// Held by the process that runs the engine for this database.
pub struct Leadership {
    _file: File,
}

/// Notices commits made by other processes (see [`Db::watch_changes`]).
pub struct ChangeWatcher {
    conn: std::sync::Mutex<Connection>,
}

impl ChangeWatcher {
    /// A number that changes whenever another connection commits (blocking; 0 when unknown).
    pub fn version(&self) -> i64 {
        self.conn
            .lock()
            .ok()
            .and_then(|c| c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).ok())
            .unwrap_or(0)
    }
}

struct Inner {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    created: bool,
}

/// What opening may do when the database file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it only on a genuine first start: nothing of an earlier database (its `-wal`,
    /// `-shm` or lock files) is next to where it should be. A database that vanished is an
    /// error, never silently a new empty one with a new admin.
    FirstStartOnly,
    /// Create it anyway (`--init`).
    Create,
}

/// Makes sure the database file exists, creating it (and its directory) on a first start, or
/// with `Missing::Create`. Returns whether it was created.
pub fn ensure_file(path: &Path, missing: Missing) -> Result<bool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    }
    if path.exists() {
        return Ok(false);
    }
    let traces = traces_of_earlier(path);
    if missing == Missing::FirstStartOnly && !traces.is_empty() {
        let names: Vec<String> = traces.iter().map(|p| p.display().to_string()).collect();
        return Err(StoreError::Unavailable(format!(
            "the database {} is missing, but {} of an earlier one is still there: restore the database from a backup, \
             or start once with --init to create a new, empty one",
            path.display(),
            names.join(", ")
        )));
    }
    open_private(path).map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
    Ok(true)
}

/// Files an earlier database at `path` leaves next to it.
fn traces_of_earlier(path: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .chain(["migrate.lock", "scheduler.lock"].iter().map(|s| sidecar(path, s)))
        .filter(|p| p.exists())
        .collect()
}

/// Opens `path` for writing, creating it readable and writable by this user only (0600):
/// the database, its backups and lock files hold hashes and channel secrets.
pub fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = File::options();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Which file a path is (device and inode): a database deleted or replaced under a running
/// server is noticed by comparing these.
#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> Option<(u64, u64)> {
    path.exists().then_some((0, 0))
}

/// The database handle; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// How many queued writes one transaction may take.
const MAX_BATCH: usize = 512;

impl Db {
    /// Opens the database (creating it on a genuine first start), applies pending migrations
    /// when `auto_migrate` is set, and starts the writer thread.
    pub fn open(cfg: &DatabaseConfig) -> Result<Db> {
        Db::open_with(cfg, Missing::FirstStartOnly)
    }

    pub fn open_with(cfg: &DatabaseConfig, missing: Missing) -> Result<Db> {
        let created = ensure_file(&cfg.path, missing)?;
        let mut conn = open_writer(&cfg.path, cfg)?;
        let file = identity(&cfg.path)
            .ok_or_else(|| StoreError::Unavailable(format!("{} vanished while opening it", cfg.path.display())))?;
        if cfg.auto_migrate {
            migrate(&mut conn, &cfg.path)?;
        } else {
            let pending = pending_migrations(&mut conn)?;
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "the database needs migrations {pending:?}; run `incidentrelay migrate` or set database.auto_migrate = true"
                )));
            }
        }
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let path = cfg.path.clone();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || writer_loop(conn, rx, &path, file))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let busy = cfg.busy_timeout_ms;
        let manager = SqliteConnectionManager::file(&cfg.path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(move |c| {
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c.execute_batch(&format!("PRAGMA busy_timeout = {busy};"))
            });
        let readers = r2d2::Pool::builder()
            .max_size(cfg.read_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(format!("cannot open read connections: {e}")))?;
        Ok(Db { inner: Arc::new(Inner { writer: tx, readers, path: cfg.path.clone(), created }) })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Bytes free for this user on the database's file system (`None` where unknown).
    pub fn disk_free(&self) -> Option<u64> {
        #[cfg(unix)]
        {
            let dir = self.inner.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// Where the engine's leadership lock lives (`<database>.scheduler.lock`).
    pub fn leader_lock_path(&self) -> PathBuf {
        sidecar(&self.inner.path, "scheduler.lock")
    }

    /// Tries to become the process that runs the engine for this database: `Some` holds an
    /// exclusive lock on [`Db::leader_lock_path`] until dropped, or until the process dies (the
    /// kernel releases it), so a standby takes over within its retry interval.
    pub fn try_lead(&self) -> std::io::Result<Option<Leadership>> {
        let file = open_private(&self.leader_lock_path())?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Leadership { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// A cheap way to notice commits made by other processes (`PRAGMA data_version` on a
    /// connection of its own).
    pub fn watch_changes(&self) -> Result<ChangeWatcher> {
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Unavailable(format!("cannot open the change watcher: {e}")))?;
        Ok(ChangeWatcher { conn: std::sync::Mutex::new(conn) })
    }

    /// Whether opening created the database (a first start, or `--init`).
    pub fn created(&self) -> bool {
        self.inner.created
    }

    fn submit<T, F>(&self, f: F) -> Result<tokio::sync::oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(TypedJob { f: Some(f), result: None, reply });
        self.inner.writer.send(job).map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?;
        Ok(rx)
    }

    /// Runs `f` in the write transaction; returns after the commit is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.submit(f)?.await.map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?
    }

    /// `write` for synchronous callers (CLI commands, blocking threads).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.submit(f)?.blocking_recv().map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?
    }

    /// Runs `f` on a pooled read-only connection off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Read<'_>) -> Result<T> + Send + 'static,
    {
        let pool = self.inner.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&Read { conn: &conn })
        })
        .await
        .map_err(|e| StoreError::Db(format!("read task failed: {e}")))?
    }

    /// `read` for synchronous callers.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Read<'_>) -> Result<T>,
    {
        let conn = self.inner.readers.get()?;
        f(&Read { conn: &conn })
    }
}

/// Runs a transaction-control statement through the statement cache (they run for every job).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The writer thread. Before each transaction it checks that the database file is still the
/// one it opened: writes into a file that was deleted or replaced would be acknowledged and
/// then lost, so they are refused instead (503) until the database is restored.
fn writer_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn WriteJob>>, path: &Path, file: (u64, u64)) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let began = if identity(path) != Some(file) {
            Err(StoreError::Unavailable(format!(
                "the database file {} was deleted or replaced while running; writes are refused until it is restored and the server restarted",
                path.display()
            )))
        } else {
            control(&conn, "BEGIN IMMEDIATE").map_err(StoreError::from)
        };
        if let Err(err) = began {
            for job in jobs {
                job.finish(Err(err.clone()));
            }
            continue;
        }
        for job in jobs.iter_mut() {
            if control(&conn, "SAVEPOINT job").is_err() {
                continue;
            }
            let ok = job.run(&Tx { read: Read { conn: &conn } });
            let end = if ok {
                control(&conn, "RELEASE job")
            } else {
                control(&conn, "ROLLBACK TO job").and_then(|_| control(&conn, "RELEASE job"))
            };
            if end.is_err() {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
        let commit = control(&conn, "COMMIT").map_err(StoreError::from);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in jobs {
            job.finish(commit.clone());
        }
    }
}

/// Opens the read-write connection with the pragmas every writer needs.
pub fn open_writer(path: &Path, cfg: &DatabaseConfig) -> Result<Connection> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let sync = match cfg.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.busy_timeout(Duration::from_millis(u64::from(cfg.busy_timeout_ms)))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("{} cannot use WAL mode (got {mode})", path.display())));
    }
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The highest migration version this binary knows.
/// What a backup holds.
#[derive(Debug)]
pub struct BackupReport {
    pub bytes: u64,
    pub alerts: i64,
    pub schema: i32,
}

/// A consistent online copy of the database at `src` into the new file `dest` (SQLite backup
/// API in one step: one read transaction, so writers carry on and the copy is one snapshot).
/// Written next to `dest` and renamed into place; the copy is integrity-checked.
pub fn backup(src: &Path, dest: &Path, busy_timeout_ms: u64) -> Result<BackupReport> {
    if dest.exists() {
        return Err(StoreError::invalid("output", format!("{} exists; choose a new file", dest.display())));
    }
    let open_err = |p: &Path, e: rusqlite::Error| StoreError::Unavailable(format!("cannot open {}: {e}", p.display()));
    let source =
        Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| open_err(src, e))?;
    source.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))?;
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    open_private(&tmp).map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", tmp.display())))?;
    {
        let mut target = Connection::open(&tmp).map_err(|e| open_err(&tmp, e))?;
        let copy = rusqlite::backup::Backup::new(&source, &mut target)?;
        loop {
            match copy.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => continue,
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    let copy = Connection::open(&tmp).map_err(|e| open_err(&tmp, e))?;
    let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Db(format!("the copy failed its integrity check: {check}")));
    }
    // A single self-contained file: no -wal/-shm companions needed to restore it.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let alerts: i64 = copy.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))?;
    let schema = applied_version(&copy)?;
    drop(copy);
    std::fs::rename(&tmp, dest)
        .map_err(|e| StoreError::Unavailable(format!("cannot write {}: {e}", dest.display())))?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { bytes, alerts, schema })
}

pub fn latest_known_version() -> i32 {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).max().unwrap_or(0)
}

/// The highest version applied to the database (0 when fresh).
pub fn applied_version(conn: &Connection) -> Result<i32> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history", [], |r| r.get(0))?)
}

fn refuse_newer(conn: &Connection) -> Result<()> {
    let applied = applied_version(conn)?;
    let known = latest_known_version();
    if applied > known {
        return Err(StoreError::Unavailable(format!(
            "the database schema is version {applied} but this binary only knows up to {known}: \
             it was written by a newer IncidentRelay. Upgrade the binary (or restore a backup); refusing to touch it"
        )));
    }
    Ok(())
}

/// Versions not yet applied.
pub fn pending_migrations(conn: &mut Connection) -> Result<Vec<i32>> {
    refuse_newer(conn)?;
    let applied = applied_version(conn)?;
    Ok(embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).filter(|v| *v > applied).collect())
}

/// `incidentrelay migrate`: makes sure the database exists (see [`Missing`]) and applies pending
/// migrations. Returns whether it was created and which versions were applied.
pub fn migrate_database(cfg: &DatabaseConfig, missing: Missing) -> Result<(bool, Vec<i32>)> {
    let created = ensure_file(&cfg.path, missing)?;
    let mut conn = open_writer(&cfg.path, cfg)?;
    Ok((created, migrate(&mut conn, &cfg.path)?))
}

/// Applies pending migrations (idempotent) under a file lock so that two processes starting
/// together do not race. Returns the versions applied.
pub fn migrate(conn: &mut Connection, db_path: &Path) -> Result<Vec<i32>> {
    let lock_path = sidecar(db_path, "migrate.lock");
    let lock = open_private(&lock_path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display())))?;
    lock.lock().map_err(|e| StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display())))?;
    refuse_newer(conn)?;
    let report = embedded::migrations::runner()
        .set_grouped(true)
        .run(conn)
        .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
    let _ = lock.unlock();
    Ok(report.applied_migrations().iter().map(|m| m.version()).collect())
}

/// `<database>.<suffix>`, e.g. `incidentrelay.db.scheduler.lock`.
pub fn sidecar(db_path: &Path, suffix: &str) -> PathBuf {
    let mut s = db_path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// Readiness, read side: the database answers; returns the applied schema version.
pub fn ready_to_read(r: &Read<'_>) -> Result<i32> {
    r.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    applied_version(r.conn)
}

/// Readiness, write side: a real (tiny) committed write, so that a full disk or a deleted
/// database file shows as not ready.
pub fn ready_to_write(tx: &Tx<'_>, now: Ts) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO settings (key, value) VALUES ('ready_probe', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute([now.ms().to_string()])?;
    Ok(())
}

/// Refreshes the query planner's statistics (cheap when little changed; run after retention).
pub fn optimize(tx: &Tx<'_>) -> Result<()> {
    tx.read.conn.execute_batch("PRAGMA optimize")?;
    Ok(())
}

/// Reads a value from the `settings` table.
pub fn get_setting(r: &Read<'_>, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(r.q_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

pub fn set_setting(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.exec(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// The installation's secret for signing action links and callbacks, created on first use.
pub fn server_secret(tx: &Tx<'_>) -> Result<Vec<u8>> {
    if let Some(v) = get_setting(tx, "server_secret")?
        && let Some(bytes) = crate::crypto::b64url_decode(&v)
    {
        return Ok(bytes);
    }
    let bytes = crate::crypto::random_bytes::<32>()?;
    set_setting(tx, "server_secret", &crate::crypto::b64url(&bytes))?;
    Ok(bytes.to_vec())
}

/// Builds `IN (?, ?, …)` placeholders for a list of ids.
pub fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2 + 2);
    s.push('(');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
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
            let ok = db.write(|c| Ok(c.exec("INSERT INTO settings (key, value) VALUES ('a', '1')", [])?));
            let bad = db.write(|c| {
                c.exec("INSERT INTO settings (key, value) VALUES ('b', '2')", [])?;
                Err::<(), _>(StoreError::invalid("x", "no"))
            });
            let dup = db.write(|c| Ok(c.exec("INSERT INTO settings (key, value) VALUES ('a', '3')", [])?));
            let (ok, bad, dup) = tokio::join!(ok, bad, dup);
            assert_eq!(ok.unwrap(), 1);
            assert!(matches!(bad, Err(StoreError::Invalid(_))));
            assert!(matches!(dup, Err(StoreError::Conflict { ref constraint, ref field, .. }) if constraint == "settings.key" && field == "key"));
            let keys = db
                .read(|c| {
                    let mut st = c.prepare("SELECT key || value FROM settings ORDER BY key")?;
                    let v = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
                    Ok(v)
                })
                .await
                .unwrap();
            assert_eq!(keys, ["a1"], "the failed job's insert was rolled back, the others kept");
        });
    }

    #[test]
    fn migrations_are_numbered_one_after_another() {
        let mut versions: Vec<i32> =
            embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).collect();
        versions.sort_unstable();
        let expected: Vec<i32> = (1..=versions.len() as i32).collect();
        assert_eq!(versions, expected, "migrations are V1, V2, … without gaps or repeats");
        assert_eq!(latest_known_version(), versions.len() as i32);
    }

    #[test]
    fn migrate_is_idempotent_and_newer_schemas_are_refused() {
        let (db, dir) = testing::db();
        let path = db.path().to_path_buf();
        let cfg = DatabaseConfig { path: path.clone(), ..DatabaseConfig::default() };
        let mut conn = open_writer(&path, &cfg).unwrap();
        assert_eq!(migrate(&mut conn, &path).unwrap(), Vec::<i32>::new());
        assert_eq!(applied_version(&conn).unwrap(), latest_known_version());
        conn.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (9999, 'future', '', '0')",
            [],
        )
        .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(err.to_string().contains("newer IncidentRelay"), "{err}");
        drop(dir);
    }
}
