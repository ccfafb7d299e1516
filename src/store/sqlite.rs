//! The embedded SQLite backend (the default, `database.path`):
//!
//! - one **writer thread** owns the only read-write connection. Callers send it jobs; it drains
//!   whatever is queued, runs each job in its own SAVEPOINT inside one `BEGIN IMMEDIATE`
//!   transaction, commits once and then answers every caller (group commit: one fsync for many
//!   requests). A job that fails is rolled back to its savepoint without touching the others.
//!   With `synchronous = full` (the default) the callers are answered by a second thread once
//!   the commit is on disk, while the writer already runs the next transaction (see
//!   [`Durability`]).
//!   The binary keeps those savepoints' journals in memory (`src/main.rs`), so the largest
//!   single job bounds their size. Before each transaction it checks that the file is still
//!   the one it opened.
//! - a small **pool of read-only connections**, used through `spawn_blocking`, so no SQLite call
//!   ever runs on an async worker thread.
//! - the **search index in a file of its own**, `<database>.search`, with a connection of its
//!   own (see [`SearchIndex`]): indexing an alert storm never holds up the writer.
//! - WAL mode, `synchronous = FULL` by default; files created 0600; a database that vanished
//!   is never silently recreated.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::sql::{Row, Val};
use super::{Missing, Read, Result, StoreError, Tx};
use crate::config::{DatabaseConfig, Synchronous};
use crate::metrics::FlushStats;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// How many queued writes one transaction may take.
const MAX_BATCH: usize = 512;

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::from(rusqlite::types::Null),
            Val::Int(i) => ToSqlOutput::from(*i),
            Val::Real(f) => ToSqlOutput::from(*f),
            Val::Text(s) => ToSqlOutput::from(s.as_str()),
        })
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
        StoreError::Unavailable(format!("no database connection: {e}"))
    }
}

// --- queries ------------------------------------------------------------------------------------

pub(super) fn rows<T>(
    c: &Connection,
    sql: &str,
    args: &[Val],
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(&Row::sqlite(r))?);
    }
    Ok(out)
}

pub(super) fn first<T>(
    c: &Connection,
    sql: &str,
    args: &[Val],
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut st = c.prepare_cached(sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    match rows.next()? {
        Some(r) => f(&Row::sqlite(r)).map(Some),
        None => Ok(None),
    }
}

pub(super) fn exec(c: &Connection, sql: &str, args: &[Val]) -> Result<usize> {
    Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args.iter()))?)
}

pub(super) fn batch(c: &Connection, sql: &str) -> Result<()> {
    Ok(c.execute_batch(sql)?)
}

// --- the database --------------------------------------------------------------------------------

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

type Batch = Vec<Box<dyn WriteJob>>;

/// Answers every job of `jobs` with the transaction's `outcome`.
fn finish_all(jobs: impl IntoIterator<Item = Box<dyn WriteJob>>, outcome: &Result<()>) {
    for job in jobs {
        job.finish(outcome.clone());
    }
}

/// Flushes the WAL to disk (`fdatasync`); replaced in tests.
type Flush = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// Makes committed batches durable off the writer thread (`database.synchronous = "full"`,
/// the default).
///
/// With SQLite's own `synchronous = FULL`, every COMMIT waits for the WAL to reach the disk,
/// and the writer thread, the one bottleneck of intake, waits with it. Instead the writer's
/// connection runs with `synchronous = NORMAL`, under which SQLite still syncs the WAL before
/// each checkpoint, the database file after it, and the WAL header when the file is reused;
/// only the sync at each commit is left out. The writer hands each committed batch to the
/// `db-sync` thread, which flushes the WAL (one `fdatasync` covers every batch committed
/// before it) and only then answers the batch's callers, while the writer already runs the
/// next transaction. So an answer still means the write is on disk, and the flush of one
/// batch overlaps the work of the next. Measured with `../shared/bench/intake-wrk.sh`:
/// duplicates (a short transaction each) 28,200 → 35,600/s, median of 3 alternating runs; new
/// alerts, whose transactions are long, within the noise.
///
/// Other connections can read a committed batch a fraction of a millisecond before it is on
/// disk. Nothing is sent on such a read: a delivery goes out only after its claim, a later
/// write, was answered, and so after everything committed before the claim is on disk.
///
/// When a flush fails the kernel may have dropped the pages it could not write, and a later
/// flush that succeeds says nothing about them (PostgreSQL's "fsyncgate"). So a failed flush
/// fails its batches and every write after it until the server is restarted; SQLite then
/// recovers from the WAL as it is on disk, which holds every write that was answered.
struct Durability {
    batches: mpsc::Sender<Batch>,
    failed: Arc<OnceLock<String>>,
    /// How long the flushes take and how many writes each covers (`/metrics`).
    stats: Arc<FlushStats>,
}

impl Durability {
    /// Switches the writer's connection to `synchronous = NORMAL` and starts the `db-sync`
    /// thread for its WAL file.
    fn start(conn: &Connection, path: &Path, flush: Option<Flush>) -> Result<Durability> {
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        // A read makes sure SQLite has opened (and so created) the WAL file.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        let flush = match flush {
            Some(f) => f,
            None => {
                let wal_path = beside(path, "-wal");
                // SQLite keeps this file (the same inode) while its connection stays open.
                let wal = File::open(&wal_path)
                    .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", wal_path.display())))?;
                Box::new(move || wal.sync_data())
            }
        };
        let (batches, rx) = mpsc::channel::<Batch>();
        let failed = Arc::new(OnceLock::new());
        let stats = Arc::new(FlushStats::default());
        let (seen, counted) = (failed.clone(), stats.clone());
        std::thread::Builder::new()
            .name("db-sync".into())
            .spawn(move || sync_loop(flush, rx, &seen, &counted))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the sync thread: {e}")))?;
        Ok(Durability { batches, failed, stats })
    }

    /// Why writes are refused (a flush failed), if they are.
    fn refused(&self) -> Option<StoreError> {
        self.failed.get().map(|why| StoreError::Unavailable(why.clone()))
    }

    /// Hands a committed batch over; its callers are answered once it is on disk.
    fn answer_when_durable(&self, jobs: Batch) {
        if let Err(mpsc::SendError(jobs)) = self.batches.send(jobs) {
            finish_all(jobs, &Err(StoreError::Unavailable("the sync thread stopped".into())));
        }
    }
}

/// The `db-sync` thread: flushes, then answers every batch committed before the flush.
fn sync_loop(mut flush: Flush, rx: mpsc::Receiver<Batch>, failed: &OnceLock<String>, stats: &FlushStats) {
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let outcome = match failed.get() {
            Some(why) => Err(StoreError::Unavailable(why.clone())),
            None => {
                let started = Instant::now();
                let flushed = flush();
                let writes = if flushed.is_ok() { batches.iter().map(Vec::len).sum() } else { 0 };
                stats.flushed(started.elapsed().as_secs_f64(), writes);
                flushed.map_err(|e| {
                    let why = format!(
                        "writing the database's log to disk failed ({e}); writes are refused until the server is restarted"
                    );
                    let _ = failed.set(why.clone());
                    StoreError::Unavailable(why)
                })
            }
        };
        finish_all(batches.into_iter().flatten(), &outcome);
    }
}

/// The search index (`alerts_fts`, FTS5 with trigrams, and how far it has got,
/// `search_state`), kept in `<database>.search` and written by a connection of its own.
///
/// Indexing is heavy: FTS5 tokenises every trigram and merges segments. In the database's own
/// file it ran on the writer thread, the one bottleneck of intake, and an alert storm's
/// indexing held intake up. Turning indexing off for a measurement gave 10,500 → 13,500-14,700
/// new alerts/s and p99 16 → 5 ms (../shared/bench/intake-wrk.sh). SQLite has one writer per
/// file, so the index has a file of its own: its connection opens it as `main` and attaches
/// the database as `data`, reads new alerts from a snapshot of it and writes only its own
/// file (a deferred transaction, so the database's write lock is never taken). Readers attach
/// the index as `search`; SQL names `alerts_fts` unqualified, which finds it there.
///
/// The file is derived from the alerts, so it is not backed up and has no migrations: it is
/// rebuilt from scratch when it is missing, damaged, of another format (`user_version`), or
/// ahead of the database (a restored backup). Changes the indexer must follow are queued in the
/// database (`search_queue`, see `store::alerts::index_search`). It runs with
/// `synchronous = NORMAL`: after a power cut it may lose its last batches, index and
/// watermark together, and the engine indexes them again.
pub struct SearchIndex {
    conn: Mutex<Connection>,
}

/// The format of the search file ([`SearchIndex`]; its `user_version`).
const SEARCH_FORMAT: i64 = 1;

impl SearchIndex {
    /// Opens (creating or rebuilding as needed) the search file of the database at `db_path`.
    /// A file that cannot be opened as it is (damaged, say) is deleted and built again: it is
    /// derived from the alerts, and a broken search index must never keep intake down.
    fn open(db_path: &Path, busy_timeout_ms: u32) -> Result<SearchIndex> {
        SearchIndex::open_file(db_path, busy_timeout_ms).or_else(|_| {
            let search = search_path(db_path);
            let journal = JOURNAL_FILES.iter().map(|s| beside(&search, s));
            for file in std::iter::once(search.clone()).chain(journal) {
                match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Unavailable(format!(
                            "cannot delete {} to rebuild it: {e}",
                            file.display()
                        )));
                    }
                    _ => {}
                }
            }
            SearchIndex::open_file(db_path, busy_timeout_ms)
        })
    }

    fn open_file(db_path: &Path, busy_timeout_ms: u32) -> Result<SearchIndex> {
        let path = search_path(db_path);
        open_private(&path).map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_millis(u64::from(busy_timeout_ms)))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!("{} cannot use WAL mode (got {mode})", path.display())));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute("ATTACH DATABASE ?1 AS data", [attach_name(db_path)?])?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        stable_plans(&conn)?;
        let format: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        let ahead: bool = format == SEARCH_FORMAT
            && conn.query_row(
                "SELECT COALESCE((SELECT value FROM main.search_state WHERE key = 'alert_id'), 0)
                        > (SELECT COALESCE(MAX(id), 0) FROM data.alerts)",
                [],
                |r| r.get(0),
            )?;
        if format != SEARCH_FORMAT || ahead {
            conn.execute_batch(&format!("BEGIN; {} COMMIT;", include_str!("search_file.sql")))?;
        }
        Ok(SearchIndex { conn: Mutex::new(conn) })
    }

    /// Runs `f` in a transaction on the search file (blocking; one at a time).
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        // A panic in an earlier `f` leaves the lock poisoned and maybe a transaction open.
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        // Deferred: the write lock is taken on the search file alone, when it is first written.
        control(&conn, "BEGIN DEFERRED")?;
        let result = f(&Tx::sqlite(&conn)).and_then(|v| control(&conn, "COMMIT").map(|()| v).map_err(StoreError::from));
        if result.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        result
    }
}

/// `<database>.search`: the search index ([`SearchIndex`]).
pub fn search_path(db_path: &Path) -> PathBuf {
    sidecar(db_path, "search")
}

/// A path as `ATTACH` takes it.
fn attach_name(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| StoreError::Unavailable(format!("{} is not a UTF-8 path", path.display())))
}

pub struct SqliteDb {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    /// The `db-sync` thread's flushes (`synchronous = "full"`).
    pub flushes: Option<Arc<FlushStats>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    pub search: Arc<SearchIndex>,
    pub path: PathBuf,
    pub created: bool,
}

impl SqliteDb {
    /// Opens the database (creating it on a genuine first start), applies pending migrations
    /// when `auto_migrate` is set, and starts the writer thread.
    pub fn open(cfg: &DatabaseConfig, missing: Missing) -> Result<SqliteDb> {
        SqliteDb::open_with(cfg, missing, None)
    }

    /// [`SqliteDb::open`], with the WAL flush replaced (tests).
    fn open_with(cfg: &DatabaseConfig, missing: Missing, flush: Option<Flush>) -> Result<SqliteDb> {
        let created = ensure_file(&cfg.path, missing)?;
        let mut conn = open_writer(&cfg.path, cfg)?;
        let file = identity(&cfg.path)
            .ok_or_else(|| StoreError::Unavailable(format!("{} vanished while opening it", cfg.path.display())))?;
        if cfg.auto_migrate {
            migrate(&mut conn, &cfg.path)?;
        } else {
            let pending = pending_migrations(&conn)?;
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "the database needs migrations {pending:?}; run `incidentrelay migrate` or set database.auto_migrate = true"
                )));
            }
        }
        let durability = match cfg.synchronous {
            Synchronous::Full => Some(Durability::start(&conn, &cfg.path, flush)?),
            Synchronous::Normal => None,
        };
        let flushes = durability.as_ref().map(|d| d.stats.clone());
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let path = cfg.path.clone();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || writer_loop(conn, rx, &path, file, durability))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let search = Arc::new(SearchIndex::open(&cfg.path, cfg.busy_timeout_ms)?);
        let busy = cfg.busy_timeout_ms;
        let search_file = attach_name(&search_path(&cfg.path))?.to_string();
        let manager = SqliteConnectionManager::file(&cfg.path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)
            .with_init(move |c| {
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                stable_plans(c)?;
                c.execute_batch(&format!("PRAGMA busy_timeout = {busy};"))?;
                c.execute("ATTACH DATABASE ?1 AS search", [&search_file]).map(|_| ())
            });
        let readers = r2d2::Pool::builder()
            .max_size(cfg.read_pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(format!("cannot open read connections: {e}")))?;
        Ok(SqliteDb { writer: tx, flushes, readers, search, path: cfg.path.clone(), created })
    }

    pub fn submit<T, F>(&self, f: F) -> Result<tokio::sync::oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(TypedJob { f: Some(f), result: None, reply });
        self.writer.send(job).map_err(|_| StoreError::Unavailable("the writer thread stopped".into()))?;
        Ok(rx)
    }

    pub fn readers(&self) -> r2d2::Pool<SqliteConnectionManager> {
        self.readers.clone()
    }

    /// Bytes free for this user on the database's file system.
    pub fn disk_free(&self) -> Option<u64> {
        #[cfg(unix)]
        {
            let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// An exclusive lock on `<database>.scheduler.lock`, held until dropped or the process dies.
    pub fn try_lock_leader(&self) -> std::io::Result<Option<File>> {
        let file = open_private(&sidecar(&self.path, "scheduler.lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// A connection of its own for `PRAGMA data_version`.
    pub fn watcher(&self) -> Result<Connection> {
        Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| StoreError::Unavailable(format!("cannot open the change watcher: {e}")))
    }
}

/// A number that changes whenever another connection commits (0 when unknown).
pub fn data_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).unwrap_or(0)
}

/// Runs a transaction-control statement through the statement cache (they run for every job).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The writer thread. Before each transaction it checks that the database file is still the
/// one it opened: writes into a file that was deleted or replaced would be acknowledged and
/// then lost, so they are refused instead (503) until the database is restored. Committed
/// batches are answered at once, or by [`Durability`] once on disk.
fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Box<dyn WriteJob>>,
    path: &Path,
    file: (u64, u64),
    durability: Option<Durability>,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let refused = durability.as_ref().and_then(Durability::refused);
        let began = if let Some(err) = refused {
            Err(err)
        } else if identity(path) != Some(file) {
            Err(StoreError::Unavailable(format!(
                "the database file {} was deleted or replaced while running; writes are refused until it is restored and the server restarted",
                path.display()
            )))
        } else {
            control(&conn, "BEGIN IMMEDIATE").map_err(StoreError::from)
        };
        if let Err(err) = began {
            finish_all(jobs, &Err(err));
            continue;
        }
        for job in jobs.iter_mut() {
            if control(&conn, "SAVEPOINT job").is_err() {
                continue;
            }
            let ok = job.run(&Tx::sqlite(&conn));
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
        match (&durability, commit) {
            (Some(d), Ok(())) => d.answer_when_durable(jobs),
            (_, commit) => finish_all(jobs, &commit),
        }
    }
}

/// Runs `f` on a pooled read-only connection (blocking).
pub fn read_with<T>(pool: &r2d2::Pool<SqliteConnectionManager>, f: impl FnOnce(&Read<'_>) -> Result<T>) -> Result<T> {
    let conn = pool.get()?;
    f(&Read::sqlite(&conn))
}

/// Opens the read-write connection with the pragmas every writer needs.
fn open_writer(path: &Path, cfg: &DatabaseConfig) -> Result<Connection> {
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
    stable_plans(&conn)?;
    Ok(conn)
}

/// Keeps each cached statement's plan whatever values are bound to it (SQLite's query planner
/// stability guarantee). Without it, once `PRAGMA optimize` (the daily retention run) has
/// gathered `sqlite_stat4` samples, SQLite re-prepares a statement whenever a new value is
/// bound to a parameter that could change its plan: every new alert's dedup key. Measured with
/// `INTAKE_BENCH_SEED=100000 cargo bench --bench intake`: 6,350 new alerts/s after `ANALYZE`
/// without it, 9,550 before `ANALYZE`.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map(|_| ())
}

// --- files --------------------------------------------------------------------------------------

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
    JOURNAL_FILES
        .iter()
        .map(|s| beside(path, s))
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

/// The suffixes of the files SQLite keeps beside a database in WAL mode.
const JOURNAL_FILES: [&str; 2] = ["-wal", "-shm"];

/// `<database><suffix>`: SQLite's own files beside the database (`-wal`, `-shm`), and ours
/// ([`sidecar`]).
fn beside(db_path: &Path, suffix: &str) -> PathBuf {
    let mut s = db_path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<database>.<suffix>`, e.g. `incidentrelay.db.scheduler.lock`.
pub fn sidecar(db_path: &Path, suffix: &str) -> PathBuf {
    beside(db_path, &format!(".{suffix}"))
}

// --- backup -------------------------------------------------------------------------------------

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
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| open_err(src, e))?;
    source.busy_timeout(Duration::from_millis(busy_timeout_ms))?;
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
                _ => std::thread::sleep(Duration::from_millis(50)),
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

// --- migrations ---------------------------------------------------------------------------------

/// The migrations this binary knows, by version.
pub fn known_versions() -> Vec<i32> {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).collect()
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

fn pending_migrations(conn: &Connection) -> Result<Vec<i32>> {
    let applied = applied_version(conn)?;
    super::refuse_newer(applied)?;
    Ok(known_versions().into_iter().filter(|v| *v > applied).collect())
}

/// `incidentrelay migrate`: makes sure the database exists and applies pending migrations.
pub fn migrate_database(cfg: &DatabaseConfig, missing: Missing) -> Result<(bool, Vec<i32>)> {
    let created = ensure_file(&cfg.path, missing)?;
    let mut conn = open_writer(&cfg.path, cfg)?;
    Ok((created, migrate(&mut conn, &cfg.path)?))
}

/// Applies pending migrations (idempotent) under a file lock so that two processes starting
/// together do not race. Returns the versions applied.
fn migrate(conn: &mut Connection, db_path: &Path) -> Result<Vec<i32>> {
    let lock_path = sidecar(db_path, "migrate.lock");
    let lock = open_private(&lock_path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display())))?;
    lock.lock().map_err(|e| StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display())))?;
    super::refuse_newer(applied_version(conn)?)?;
    let report = embedded::migrations::runner()
        .set_grouped(true)
        .run(conn)
        .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
    let _ = lock.unlock();
    Ok(report.applied_migrations().iter().map(|m| m.version()).collect())
}

/// Opens a database file read-only (`check-schema`).
pub fn open_read_only(path: &Path) -> Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, Sender, channel};

    /// A database whose WAL flushes are driven by the test: each flush reports on `started`,
    /// then waits for a result on `results`.
    fn db_with_flush() -> (SqliteDb, Receiver<()>, Sender<std::io::Result<()>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig { path: dir.path().join("t.db"), ..DatabaseConfig::default() };
        let (started_tx, started) = channel();
        let (results, results_rx) = channel::<std::io::Result<()>>();
        let flush: Flush = Box::new(move || {
            let _ = started_tx.send(());
            results_rx.recv().unwrap_or(Ok(()))
        });
        let db = SqliteDb::open_with(&cfg, Missing::Create, Some(flush)).expect("open");
        (db, started, results, dir)
    }

    fn put(db: &SqliteDb, key: &str) -> tokio::sync::oneshot::Receiver<Result<usize>> {
        let key = key.to_string();
        db.submit(move |c| c.exec("INSERT INTO settings (key, value) VALUES (?1, 'v')", &[Val::Text(key)]))
            .expect("submit")
    }

    fn stored(db: &SqliteDb, key: &str) -> bool {
        read_with(&db.readers(), |c| {
            c.opt("SELECT 1 FROM settings WHERE key = ?1", &[Val::Text(key.into())], |r| r.get::<i64, _>(0))
        })
        .expect("read")
        .is_some()
    }

    #[test]
    fn a_write_is_answered_only_once_its_commit_is_flushed_and_the_writer_goes_on_meanwhile() {
        let (db, started, results, _dir) = db_with_flush();
        let mut first = put(&db, "first");
        started.recv().expect("the first commit is being flushed");
        // Committed (other connections see it) but not answered while the flush lasts…
        assert!(stored(&db, "first"));
        assert!(first.try_recv().is_err());
        // …and the writer commits the next batch in the meantime.
        let mut second = put(&db, "second");
        while !stored(&db, "second") {
            std::thread::yield_now();
        }
        assert!(second.try_recv().is_err());
        results.send(Ok(())).expect("finish the first flush");
        assert_eq!(first.blocking_recv().expect("answer").expect("write"), 1);
        // The second batch needs a flush of its own: it was committed after the first began.
        started.recv().expect("the second commit is being flushed");
        assert!(second.try_recv().is_err());
        results.send(Ok(())).expect("finish the second flush");
        assert_eq!(second.blocking_recv().expect("answer").expect("write"), 1);
        let stats = db.flushes.as_ref().expect("flushes are counted");
        assert_eq!((stats.flushes(), stats.writes()), (2, 2), "two flushes, one write each");
    }

    #[test]
    fn a_failed_flush_fails_its_writes_and_every_write_after_it() {
        let (db, started, results, _dir) = db_with_flush();
        let first = put(&db, "first");
        started.recv().expect("flushing");
        results.send(Err(std::io::Error::other("EIO"))).expect("fail the flush");
        match first.blocking_recv().expect("answer") {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("EIO") && why.contains("restarted"), "{why}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        // Refused before it is written: the disk's state is unknown until a restart.
        let second = put(&db, "second");
        assert!(matches!(second.blocking_recv().expect("answer"), Err(StoreError::Unavailable(_))));
        assert!(!stored(&db, "second"));
        let stats = db.flushes.as_ref().expect("flushes are counted");
        assert_eq!((stats.flushes(), stats.writes()), (1, 0), "one failed flush, nothing made durable");
    }

    #[test]
    fn indexing_for_search_never_holds_up_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig { path: dir.path().join("t.db"), busy_timeout_ms: 200, ..DatabaseConfig::default() };
        let db = SqliteDb::open_with(&cfg, Missing::Create, None).expect("open");
        db.search
            .write(|c| {
                c.exec("INSERT INTO alerts_fts (rowid, body) VALUES (1, 'disk full on db-1')", &[])?;
                // The search file's transaction is open and has written: the writer still
                // commits at once (it would wait out its busy timeout and fail otherwise).
                assert_eq!(put(&db, "meanwhile").blocking_recv().expect("answer").expect("write"), 1);
                Ok(())
            })
            .expect("index");
        let found = read_with(&db.readers(), |c| {
            c.rows("SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH '\"db-1\"'", &[], |r| r.get::<i64, _>(0))
        })
        .expect("search");
        assert_eq!(found, vec![1]);
    }

    #[test]
    fn a_search_file_ahead_of_the_database_is_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig { path: dir.path().join("t.db"), ..DatabaseConfig::default() };
        let indexed = |db: &SqliteDb| {
            read_with(&db.readers(), |c| {
                c.rows("SELECT value FROM search_state WHERE key = 'alert_id'", &[], |r| r.get::<i64, _>(0))
            })
            .expect("read")
        };
        {
            // As if the database were a backup restored under a newer index.
            let db = SqliteDb::open_with(&cfg, Missing::Create, None).expect("open");
            db.search
                .write(|c| c.exec("INSERT INTO search_state (key, value) VALUES ('alert_id', 50)", &[]))
                .expect("write");
            assert_eq!(indexed(&db), vec![50]);
        }
        let db = SqliteDb::open_with(&cfg, Missing::FirstStartOnly, None).expect("reopen");
        assert_eq!(indexed(&db), Vec::<i64>::new(), "rebuilt from scratch");
        drop(db);
        // A deleted search file is simply built again.
        std::fs::remove_file(search_path(&cfg.path)).expect("delete the search file");
        let db = SqliteDb::open_with(&cfg, Missing::FirstStartOnly, None).expect("reopen");
        assert_eq!(indexed(&db), Vec::<i64>::new());
    }

    #[test]
    fn a_damaged_search_file_is_built_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig { path: dir.path().join("t.db"), ..DatabaseConfig::default() };
        drop(SqliteDb::open_with(&cfg, Missing::Create, None).expect("open"));
        std::fs::write(search_path(&cfg.path), vec![0x5a; 8192]).expect("damage the search file");
        let db = SqliteDb::open_with(&cfg, Missing::FirstStartOnly, None).expect("reopen");
        let found = read_with(&db.readers(), |c| {
            c.rows("SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH '\"disk\"'", &[], |r| r.get::<i64, _>(0))
        })
        .expect("search");
        assert_eq!(found, Vec::<i64>::new());
    }

    #[test]
    fn with_synchronous_normal_a_write_is_answered_at_its_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DatabaseConfig {
            path: dir.path().join("t.db"),
            synchronous: Synchronous::Normal,
            ..DatabaseConfig::default()
        };
        let flush: Flush = Box::new(|| panic!("no flush with synchronous = normal"));
        let db = SqliteDb::open_with(&cfg, Missing::Create, Some(flush)).expect("open");
        assert_eq!(put(&db, "k").blocking_recv().expect("answer").expect("write"), 1);
        assert!(db.flushes.is_none(), "nothing waits for a flush, so none is counted");
    }

    /// Migration V21 on a database whose alerts were deleted before it: the audit log's largest
    /// alert id starts the mark, unless an alert still has a larger one.
    #[test]
    fn upgrading_to_v21_takes_the_mark_for_deleted_alert_ids_from_the_audit_log() {
        let mark = |newest_alert: Option<i64>| {
            let mut conn = Connection::open_in_memory().expect("open");
            conn.execute_batch("PRAGMA foreign_keys = ON;").expect("pragma");
            embedded::migrations::runner()
                .set_target(refinery::Target::Version(20))
                .run(&mut conn)
                .expect("migrate to V20");
            conn.execute_batch(
                "INSERT INTO audit_logs (actor, action, object_type, object_id, created_at)
                 VALUES ('alice', 'alert.acknowledge', 'alert', 7, 0), ('alice', 'team.create', 'team', 99, 0);",
            )
            .expect("audit");
            if let Some(id) = newest_alert {
                conn.execute_batch(&format!(
                    "INSERT INTO groups (id, slug, name, created_at, updated_at) VALUES (1, 'g', 'G', 0, 0);
                     INSERT INTO teams (id, group_id, slug, name, created_at, updated_at) VALUES (1, 1, 't', 'T', 0, 0);
                     INSERT INTO alerts (id, team_id, source, dedup_key, title, severity, status, first_seen_at,
                                         last_seen_at, created_at, updated_at)
                     VALUES ({id}, 1, 'webhook', 'k', 'x', 'critical', 'resolved', 0, 0, 0, 0);"
                ))
                .expect("alert");
            }
            embedded::migrations::runner().run(&mut conn).expect("migrate");
            conn.query_row("SELECT value FROM settings WHERE key = 'alerts.deleted_max_id'", [], |r| {
                r.get::<_, String>(0)
            })
            .ok()
        };
        assert_eq!(mark(None), Some("7".into()), "alert 7 was deleted: new alerts start above it");
        assert_eq!(mark(Some(3)), Some("7".into()), "alert 3 is left, 7 is not: still above 7");
        assert_eq!(mark(Some(12)), None, "alert 12 is left: new alerts start above it anyway");
    }
}
