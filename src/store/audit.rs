//! The audit log: every mutation records who did what to which object, and when.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{Read, Result, Row, Tx};
use crate::args;
use crate::domain::time::Ts;

/// Who is acting. `user_id` is `None` for the system itself (CLI, engine, integrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
}

impl Actor {
    pub fn user(id: i64, name: &str) -> Actor {
        Actor { user_id: Some(id), name: name.to_string() }
    }
    pub fn system(what: &str) -> Actor {
        Actor { user_id: None, name: what.to_string() }
    }
}

/// The context of one change: who, and the injected clock's "now".
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub now: Ts,
}

impl Ctx {
    pub fn new(actor: Actor, now: Ts) -> Ctx {
        Ctx { actor, now }
    }

    /// Writes one audit row, e.g. `ctx.audit(c, "team.create", "team", id, Some(group), json!({..}))`.
    pub fn audit(
        &self,
        c: &Tx<'_>,
        action: &str,
        object_type: &str,
        object_id: i64,
        group_id: Option<i64>,
        details: Value,
    ) -> Result<()> {
        c.exec(
            "INSERT INTO audit_logs (actor_user_id, actor, action, object_type, object_id, group_id, details, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![self.actor.user_id, self.actor.name, action, object_type, object_id, group_id, details.to_string(), self.now],
        )?;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditLog {
    pub id: i64,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    /// `<object>.<verb>`, e.g. `team.create`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<i64>,
    pub group_id: Option<i64>,
    pub details: Value,
    pub created_at: Ts,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    pub actor: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub fn list(c: &Read<'_>, f: &AuditFilter) -> Result<Vec<AuditLog>> {
    c.rows(
        "SELECT * FROM audit_logs
         WHERE (CAST(?1 AS TEXT) IS NULL OR object_type = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR object_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR actor = ?3) AND (CAST(?4 AS BIGINT) IS NULL OR id < ?4)
         ORDER BY id DESC LIMIT ?5",
        args![f.object_type, f.object_id, f.actor, f.before_id, f.limit.clamp(1, 1000)],
        |r: &Row<'_>| {
            Ok(AuditLog {
                id: r.get("id")?,
                actor_user_id: r.get("actor_user_id")?,
                actor: r.get("actor")?,
                action: r.get("action")?,
                object_type: r.get("object_type")?,
                object_id: r.get("object_id")?,
                group_id: r.get("group_id")?,
                details: r.json("details")?,
                created_at: r.get("created_at")?,
            })
        },
    )
}

/// Deletes rows older than `cutoff`; returns how many.
pub fn purge_before(c: &Tx<'_>, cutoff: Ts) -> Result<usize> {
    c.exec("DELETE FROM audit_logs WHERE created_at < ?1", args![cutoff])
}
