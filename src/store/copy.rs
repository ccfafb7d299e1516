//! `incidentrelay copy-data`: moves an installation from its SQLite file to PostgreSQL. Every
//! table of [`schema::EXPECTED`] is copied row for row, ids kept (links, tokens and the
//! installation secret keep working), in that list's order, which is an order foreign keys
//! accept. It all happens in one PostgreSQL transaction, read from one SQLite snapshot: the
//! target has everything or nothing. Row counts are compared table by table before the
//! commit. The search index is not copied: the engine rebuilds it from the alerts.

use std::path::Path;

use super::sql::Val;
use super::{Result, StoreError, pg, schema, sqlite};

/// What was copied: rows per table.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Rows per `INSERT` (PostgreSQL takes at most 65,535 parameters per statement).
const BATCH_ROWS: usize = 500;

/// Tables left out: the search index and its bookkeeping, which the engine rebuilds from the
/// alerts, and the configuration's version number, which the target's own triggers count (see
/// `store::config_cache`).
fn copied(table: &str) -> bool {
    !schema::SEARCH_INDEX.contains(&table) && table != "search_queue" && table != "config_version"
}

/// Copies `from` (a SQLite database at this binary's schema) into the empty PostgreSQL
/// database at `to` (migrated first).
pub fn copy_data(from: &Path, to: &str) -> Result<CopyReport> {
    if !from.exists() {
        return Err(StoreError::Unavailable(format!("--from: {} does not exist", from.display())));
    }
    let src = sqlite::open_read_only(from)?;
    let version = sqlite::applied_version(&src)?;
    if version != super::latest_known_version() {
        return Err(StoreError::Unavailable(format!(
            "{} is at schema version {version} and this binary at {}: run `incidentrelay migrate` on it with this binary first",
            from.display(),
            super::latest_known_version()
        )));
    }
    pg::migrate_url(to)?;
    let mut dst = pg::connect(to)?;
    // One snapshot of the source, one transaction on the target.
    src.execute_batch("BEGIN")?;
    dst.batch("BEGIN")?;
    let result = copy_tables(&src, &mut dst);
    let _ = src.execute_batch("COMMIT");
    match result {
        Ok(report) => {
            dst.batch("COMMIT")?;
            Ok(report)
        }
        Err(e) => {
            let _ = dst.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn copy_tables(src: &rusqlite::Connection, dst: &mut pg::PgConn) -> Result<CopyReport> {
    for (table, _) in schema::EXPECTED.iter().filter(|(t, _)| copied(t)) {
        let n = count_pg(dst, table)?;
        if n > 0 {
            return Err(StoreError::conflict(
                "to",
                format!(
                    "the target database already holds data ({n} row(s) in {table}): copy-data only fills an empty database"
                ),
            ));
        }
    }
    let mut report = CopyReport::default();
    for (table, columns) in schema::EXPECTED.iter().filter(|(t, _)| copied(t)) {
        let copied = copy_table(src, dst, table, columns)?;
        let (in_src, in_dst) = (count_sqlite(src, table)?, count_pg(dst, table)?);
        if in_src != copied || in_dst != copied {
            return Err(StoreError::Db(format!(
                "{table}: {in_src} row(s) in the source, {copied} copied, {in_dst} in the target; nothing was kept"
            )));
        }
        if columns.contains(&"id") {
            // New rows continue after the copied ids.
            dst.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ),
                &[],
            )?;
        }
        report.tables.push((table.to_string(), copied));
    }
    Ok(report)
}

fn copy_table(src: &rusqlite::Connection, dst: &mut pg::PgConn, table: &str, columns: &[&str]) -> Result<u64> {
    let list = columns.join(", ");
    let mut st = src.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = st.query([])?;
    let mut batch: Vec<Val> = Vec::with_capacity(BATCH_ROWS * columns.len());
    let mut copied = 0u64;
    while let Some(row) = rows.next()? {
        for i in 0..columns.len() {
            batch.push(match row.get::<_, rusqlite::types::Value>(i)? {
                rusqlite::types::Value::Null => Val::Null,
                rusqlite::types::Value::Integer(v) => Val::Int(v),
                rusqlite::types::Value::Real(v) => Val::Real(v),
                rusqlite::types::Value::Text(v) => Val::Text(v),
                rusqlite::types::Value::Blob(v) => Val::Text(String::from_utf8_lossy(&v).into_owned()),
            });
        }
        if batch.len() == BATCH_ROWS * columns.len() {
            copied += insert(dst, table, &list, columns.len(), &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        copied += insert(dst, table, &list, columns.len(), &batch)?;
    }
    Ok(copied)
}

/// One multi-row `INSERT` of `values` (row after row).
fn insert(dst: &mut pg::PgConn, table: &str, list: &str, width: usize, values: &[Val]) -> Result<u64> {
    let rows = values.len() / width;
    let mut sql = format!("INSERT INTO {table} ({list}) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    dst.execute(&sql, values)
}

fn count_sqlite(src: &rusqlite::Connection, table: &str) -> Result<u64> {
    let n: i64 = src.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(n as u64)
}

fn count_pg(dst: &mut pg::PgConn, table: &str) -> Result<u64> {
    let rows = dst.query(&format!("SELECT COUNT(*) FROM {table}"), &[])?;
    let n = rows.first().map(|r| pg::column(r, 0)).transpose().map_err(StoreError::Db)?;
    match n {
        Some(Val::Int(n)) => Ok(n as u64),
        other => Err(StoreError::Db(format!("COUNT(*) of {table} answered {other:?}"))),
    }
}
