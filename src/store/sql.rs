//! The store's query layer: what store functions use to run SQL, whatever the backend. Values
//! go in as [`Val`] (built with [`args!`]) and come out of a [`Row`] through [`FromVal`];
//! placeholders are `?1`, `?2`… (or `?` in generated lists). The backends differ only here and
//! in the few queries marked `dialect:` in the store.
//!
//! One SQL text for both means: `IS DISTINCT FROM` rather than SQLite's `IS NOT`, an alias on
//! every subquery in `FROM`, `RETURNING id` rather than `last_insert_rowid()`, `CASE` where
//! SQLite would store a comparison's 0/1, and a parameter PostgreSQL cannot type from its
//! first use (`?1 IS NULL OR x = ?1`) written `CAST(?1 AS BIGINT)` / `CAST(?1 AS TEXT)`.

use crate::domain::time::Ts;

use super::{Result, StoreError};

/// A value bound to a query or read from a row. Booleans are integers (0/1) in both backends'
/// schemas, so one SQL text serves both.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Turns a Rust value into a bound value.
pub trait ToVal {
    fn to_val(&self) -> Val;
}

impl ToVal for Val {
    fn to_val(&self) -> Val {
        self.clone()
    }
}
impl ToVal for i64 {
    fn to_val(&self) -> Val {
        Val::Int(*self)
    }
}
impl ToVal for i32 {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for u32 {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for usize {
    fn to_val(&self) -> Val {
        Val::Int(*self as i64)
    }
}
impl ToVal for bool {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for f64 {
    fn to_val(&self) -> Val {
        Val::Real(*self)
    }
}
impl ToVal for str {
    fn to_val(&self) -> Val {
        Val::Text(self.to_string())
    }
}
impl ToVal for String {
    fn to_val(&self) -> Val {
        Val::Text(self.clone())
    }
}
impl ToVal for Ts {
    fn to_val(&self) -> Val {
        Val::Int(self.ms())
    }
}
impl<T: ToVal + ?Sized> ToVal for &T {
    fn to_val(&self) -> Val {
        (**self).to_val()
    }
}
impl<T: ToVal> ToVal for Option<T> {
    fn to_val(&self) -> Val {
        self.as_ref().map_or(Val::Null, ToVal::to_val)
    }
}

/// The arguments of a query: `args![id, name, now]`.
#[macro_export]
macro_rules! args {
    ($($e:expr),* $(,)?) => { &[$($crate::store::sql::ToVal::to_val(&$e)),*][..] };
}
pub use crate::args;

/// Reads a Rust value out of a column.
pub trait FromVal: Sized {
    fn from_val(v: Val) -> std::result::Result<Self, String>;
}

impl FromVal for Val {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        Ok(v)
    }
}
impl FromVal for i64 {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        match v {
            Val::Int(i) => Ok(i),
            Val::Real(f) => Ok(f as i64),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl FromVal for i32 {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        i64::from_val(v).and_then(|i| i32::try_from(i).map_err(|e| e.to_string()))
    }
}
impl FromVal for u32 {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        i64::from_val(v).and_then(|i| u32::try_from(i).map_err(|e| e.to_string()))
    }
}
impl FromVal for bool {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        i64::from_val(v).map(|i| i != 0)
    }
}
impl FromVal for f64 {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        match v {
            Val::Int(i) => Ok(i as f64),
            Val::Real(f) => Ok(f),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl FromVal for String {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        match v {
            Val::Text(s) => Ok(s),
            Val::Int(i) => Ok(i.to_string()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromVal for Ts {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        i64::from_val(v).map(Ts::from_ms)
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: Val) -> std::result::Result<Self, String> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

/// A column by position or by name.
pub trait ColIndex: Copy + std::fmt::Display {
    fn sqlite(self) -> SqliteIdx;
    fn postgres(self, row: &postgres::Row) -> Option<usize>;
}

pub enum SqliteIdx {
    Pos(usize),
    Name(&'static str),
}

impl ColIndex for usize {
    fn sqlite(self) -> SqliteIdx {
        SqliteIdx::Pos(self)
    }
    fn postgres(self, row: &postgres::Row) -> Option<usize> {
        (self < row.len()).then_some(self)
    }
}

impl ColIndex for &'static str {
    fn sqlite(self) -> SqliteIdx {
        SqliteIdx::Name(self)
    }
    fn postgres(self, row: &postgres::Row) -> Option<usize> {
        row.columns().iter().position(|c| c.name() == self)
    }
}

impl<'r> Row<'r> {
    pub(super) fn sqlite(r: &'r rusqlite::Row<'r>) -> Row<'r> {
        Row { inner: RowInner::Sqlite(r) }
    }
    pub(super) fn postgres(r: &'r postgres::Row) -> Row<'r> {
        Row { inner: RowInner::Postgres(r) }
    }

    /// The column's value.
    pub fn val<I: ColIndex>(&self, idx: I) -> Result<Val> {
        let bad = |e: String| StoreError::Db(format!("column {idx}: {e}"));
        match &self.inner {
            RowInner::Sqlite(r) => {
                let v: rusqlite::types::Value = match idx.sqlite() {
                    SqliteIdx::Pos(i) => r.get(i),
                    SqliteIdx::Name(n) => r.get(n),
                }
                .map_err(|e| bad(e.to_string()))?;
                Ok(match v {
                    rusqlite::types::Value::Null => Val::Null,
                    rusqlite::types::Value::Integer(i) => Val::Int(i),
                    rusqlite::types::Value::Real(f) => Val::Real(f),
                    rusqlite::types::Value::Text(s) => Val::Text(s),
                    rusqlite::types::Value::Blob(b) => Val::Text(String::from_utf8_lossy(&b).into_owned()),
                })
            }
            RowInner::Postgres(r) => {
                let i = idx.postgres(r).ok_or_else(|| bad("no such column".into()))?;
                super::pg::column(r, i).map_err(bad)
            }
        }
    }

    /// The column as a Rust value.
    pub fn get<T: FromVal, I: ColIndex>(&self, idx: I) -> Result<T> {
        T::from_val(self.val(idx)?).map_err(|e| StoreError::Db(format!("column {idx}: {e}")))
    }

    /// A JSON column (stored as text). On SQLite it is parsed where it lies, without a copy.
    pub fn json<T: serde::de::DeserializeOwned, I: ColIndex>(&self, idx: I) -> Result<T> {
        let bad = |e: String| StoreError::Db(format!("column {idx}: {e}"));
        let parsed = match &self.inner {
            RowInner::Sqlite(r) => {
                let v = match idx.sqlite() {
                    SqliteIdx::Pos(i) => r.get_ref(i),
                    SqliteIdx::Name(n) => r.get_ref(n),
                }
                .map_err(|e| bad(e.to_string()))?;
                // Checked as UTF-8 once, then parsed as a `str`: `from_slice` would check every
                // string in it again.
                match v {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        serde_json::from_str(std::str::from_utf8(t).map_err(|e| bad(e.to_string()))?)
                    }
                    other => return Err(bad(format!("expected text, found {:?}", other.data_type()))),
                }
            }
            RowInner::Postgres(_) => serde_json::from_str(&self.get::<String, _>(idx)?),
        };
        parsed.map_err(|e| bad(e.to_string()))
    }
}

/// `(?, ?, …)`: placeholders for a list of values.
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

/// Values of a list, for `IN (?, ?, …)` queries.
pub fn vals<T: ToVal>(list: &[T]) -> Vec<Val> {
    list.iter().map(ToVal::to_val).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        assert_eq!(i64::from_val(7i64.to_val()), Ok(7));
        assert_eq!(bool::from_val(true.to_val()), Ok(true));
        assert_eq!(Option::<i64>::from_val(Val::Null), Ok(None));
        assert_eq!(String::from_val("x".to_val()), Ok("x".to_string()));
        assert_eq!(Ts::from_val(Ts::from_ms(5).to_val()), Ok(Ts::from_ms(5)));
        assert!(i64::from_val(Val::Text("x".into())).is_err());
        let a = args![1i64, "b", Some(2i64), None::<i64>, true];
        assert_eq!(a, [Val::Int(1), Val::Text("b".into()), Val::Int(2), Val::Null, Val::Int(1)]);
    }
}
