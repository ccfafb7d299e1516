//! What paging reads of the configuration, kept in memory between transactions: a team's
//! silences, a rotation with its layers, members and overrides, a route's channels and a
//! person's notification rules. A new alert needs all of them, and they change seldom, so each
//! is loaded once per *configuration version* rather than once per alert (on PostgreSQL a new
//! alert went from ten round trips to six).
//!
//! The version is one row, `config_version`, which triggers on every table behind the cache
//! bump in the transaction that changes it (migration V17). No writer can forget to, on any
//! node. A transaction reads the number once, at its first cached load, and reuses what was
//! loaded at that number; a cache that saw another number starts over.
//!
//! Why this is exact:
//! - Loads happen after the version is read. Under read committed a change may commit in
//!   between, so an entry can be newer than its number, never older; the next transaction
//!   sees the higher number and reloads.
//! - A transaction that wrote to the configuration reads it directly (`Tx::config_written`):
//!   its changes are not committed, and a rollback would reuse its number.
//! - SQLite's writer commits several jobs together, so a job may load what an earlier job of
//!   the same batch changed. If that commit fails, `Db::write` clears the cache.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Read, Result};
use crate::args;

/// The tables whose changes bump `config_version` (each has its triggers in migration V17).
pub const WATCHED: &[&str] = &[
    "teams",
    "silences",
    "rotations",
    "rotation_layers",
    "rotation_members",
    "rotation_overrides",
    "channels",
    "route_channels",
    "notification_rules",
    "contact_methods",
];

/// What is cached, by the id it was loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A team's enabled silences (`silences::enabled_for_team`).
    Silences(i64),
    /// A rotation row and its on-call computation input (`lifecycle::rotation_now`).
    Rotation(i64),
    /// A route's channels (`outbox::channels_for`).
    RouteChannels(i64),
    /// One channel (`outbox::channels_for`, a policy step's channel).
    Channel(i64),
    /// A person's notification rules with their contact methods (`contacts::applicable`).
    Rules(i64),
}

type Entry = Arc<dyn Any + Send + Sync>;

/// The cache of one process (shared by its transactions).
#[derive(Default)]
pub struct ConfigCache {
    inner: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    version: i64,
    entries: HashMap<Key, Entry>,
}

impl ConfigCache {
    /// Forgets everything (a write transaction failed: what it loaded may never commit).
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).entries.clear();
    }

    fn get<T: Send + Sync + 'static>(&self, version: i64, key: Key) -> Option<Arc<T>> {
        let loaded = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.version != version {
            return None;
        }
        loaded.entries.get(&key).cloned().and_then(|e| e.downcast::<T>().ok())
    }

    fn put<T: Send + Sync + 'static>(&self, version: i64, key: Key, value: Arc<T>) {
        let mut loaded = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.version != version {
            // Only move forward: a transaction that read an older number meanwhile must not
            // throw away what newer ones loaded.
            if version < loaded.version {
                return;
            }
            loaded.version = version;
            loaded.entries.clear();
        }
        loaded.entries.insert(key, value);
    }
}

impl Read<'_> {
    /// `load`, or what it returned before at this transaction's configuration version. Without
    /// a cache (reads, commands) or after the transaction changed the configuration, `load`.
    pub(super) fn cached<T: Send + Sync + 'static>(
        &self,
        key: Key,
        load: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let Some(cache) = self.cache.get().filter(|_| !self.config_written.get()) else {
            return load().map(Arc::new);
        };
        let version = match self.config_version.get() {
            Some(v) => v,
            None => {
                let v: i64 = self.one("SELECT version FROM config_version WHERE id = 1", args![], |r| r.get(0))?;
                self.config_version.set(Some(v));
                v
            }
        };
        if let Some(hit) = cache.get::<T>(version, key) {
            return Ok(hit);
        }
        let value = Arc::new(load()?);
        cache.put(version, key, value.clone());
        Ok(value)
    }
}

/// Whether a statement writes to a table of [`WATCHED`] (the transaction then reads the
/// configuration directly; see the module docs).
pub(super) fn writes_config(sql: &str) -> bool {
    let sql = sql.trim_start();
    let rest = ["INSERT INTO ", "UPDATE ", "DELETE FROM "]
        .iter()
        .find_map(|p| sql.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &sql[p.len()..]));
    let Some(rest) = rest else { return false };
    let table: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    WATCHED.contains(&table.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_watched_tables_are_recognised() {
        assert!(writes_config("INSERT INTO silences (team_id) VALUES (?1)"));
        assert!(writes_config("  update rotation_members SET position = ?1"));
        assert!(writes_config("DELETE FROM route_channels WHERE route_id = ?1"));
        assert!(!writes_config("UPDATE rotations_archive SET x = 1"), "a longer name is another table");
        assert!(!writes_config("INSERT INTO alerts (id) VALUES (1)"));
        assert!(!writes_config("SELECT * FROM silences"));
    }

    #[test]
    fn every_watched_table_bumps_the_version_on_both_backends() {
        let sqlite = include_str!("../../migrations/sqlite/V17__config_version.sql");
        let postgres = include_str!("../../migrations/postgres/V17__config_version.sql");
        for t in WATCHED {
            for op in ["INSERT", "UPDATE", "DELETE"] {
                assert!(sqlite.contains(&format!("AFTER {op} ON {t} BEGIN UPDATE config_version")), "{op} on {t}");
            }
            assert!(
                postgres.contains(&format!("AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} FOR EACH STATEMENT")),
                "{t}"
            );
        }
    }

    #[test]
    fn the_cache_keeps_one_version_and_only_moves_forward() {
        let cache = ConfigCache::default();
        cache.put(3, Key::Rules(1), Arc::new(7i64));
        assert_eq!(cache.get::<i64>(3, Key::Rules(1)).as_deref(), Some(&7));
        assert!(cache.get::<i64>(4, Key::Rules(1)).is_none(), "another version misses");
        assert!(cache.get::<String>(3, Key::Rules(1)).is_none(), "another type misses");
        cache.put(2, Key::Rules(2), Arc::new(1i64));
        assert!(cache.get::<i64>(2, Key::Rules(2)).is_none(), "an older version is not stored");
        cache.put(4, Key::Rules(2), Arc::new(9i64));
        assert!(cache.get::<i64>(4, Key::Rules(1)).is_none(), "a newer version starts over");
        assert_eq!(cache.get::<i64>(4, Key::Rules(2)).as_deref(), Some(&9));
        cache.clear();
        assert!(cache.get::<i64>(4, Key::Rules(2)).is_none());
    }
}
