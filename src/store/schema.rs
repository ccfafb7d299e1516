//! What the code expects of the database, checked by `incidentrelay check-schema`. A unit test
//! keeps this list equal to what the migrations create, so it cannot drift.

use super::{Read, Result};

pub const EXPECTED: &[(&str, &[&str])] = &[
    ("settings", &["key", "value"]),
    ("groups", &["id", "slug", "name", "description", "active", "created_at", "updated_at"]),
    (
        "users",
        &[
            "id",
            "username",
            "display_name",
            "email",
            "phone",
            "password_hash",
            "is_admin",
            "active",
            "telegram_user_id",
            "slack_user_id",
            "mattermost_user_id",
            "must_change_password",
            "active_group_id",
            "created_at",
            "updated_at",
        ],
    ),
    ("group_memberships", &["id", "group_id", "user_id", "role", "created_at", "updated_at"]),
    (
        "sessions",
        &["id", "user_id", "token_hash", "csrf_token", "ip", "user_agent", "created_at", "expires_at", "last_seen_at"],
    ),
    (
        "api_tokens",
        &[
            "id",
            "user_id",
            "name",
            "token_hash",
            "token_prefix",
            "scopes",
            "group_id",
            "expires_at",
            "last_used_at",
            "created_at",
        ],
    ),
    (
        "teams",
        &[
            "id",
            "group_id",
            "slug",
            "name",
            "description",
            "escalation_enabled",
            "escalation_after_reminders",
            "active",
            "created_at",
            "updated_at",
        ],
    ),
    ("team_members", &["id", "team_id", "user_id", "created_at"]),
    (
        "rotations",
        &[
            "id",
            "team_id",
            "name",
            "description",
            "start_at",
            "rotation_type",
            "interval_value",
            "interval_unit",
            "handoff_time",
            "handoff_weekday",
            "timezone",
            "reminder_interval_seconds",
            "enabled",
            "created_at",
            "updated_at",
        ],
    ),
    ("rotation_members", &["id", "rotation_id", "user_id", "position", "created_at"]),
    (
        "rotation_overrides",
        &["id", "rotation_id", "user_id", "starts_at", "ends_at", "reason", "created_by", "created_at"],
    ),
    (
        "channels",
        &[
            "id",
            "team_id",
            "name",
            "channel_type",
            "config",
            "notify_on_severities",
            "enabled",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "escalation_policies",
        &["id", "team_id", "name", "description", "repeat_count", "enabled", "created_at", "updated_at"],
    ),
    ("escalation_rules", &["id", "policy_id", "position", "delay_seconds", "target_type", "target_id"]),
    (
        "routes",
        &[
            "id",
            "team_id",
            "name",
            "source",
            "rotation_id",
            "escalation_policy_id",
            "matchers",
            "group_by",
            "enabled",
            "intake_token_hash",
            "intake_token_prefix",
            "signing_secret",
            "created_at",
            "updated_at",
        ],
    ),
    ("route_channels", &["route_id", "channel_id", "position"]),
    (
        "silences",
        &[
            "id",
            "team_id",
            "name",
            "reason",
            "matchers",
            "starts_at",
            "ends_at",
            "enabled",
            "created_by",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "alerts",
        &[
            "id",
            "team_id",
            "route_id",
            "rotation_id",
            "escalation_policy_id",
            "source",
            "dedup_key",
            "group_key",
            "title",
            "message",
            "severity",
            "status",
            "labels",
            "event_link",
            "alert_count",
            "first_seen_at",
            "last_seen_at",
            "assignee_user_id",
            "acknowledged_by",
            "acknowledged_by_user_id",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "reminder_count",
            "escalation_level",
            "escalation_cycle",
            "next_action_at",
            "flapping",
            "state_changes",
            "silence_id",
            "created_at",
            "updated_at",
            "episode",
            "group_open",
        ],
    ),
    ("alerts_fts", &["body"]),
    ("alert_group_members", &["alert_id", "route_id", "dedup_key", "status", "first_seen_at", "last_seen_at"]),
    ("alert_events", &["id", "alert_id", "event_type", "message", "actor", "data", "created_at"]),
    (
        "deliveries",
        &[
            "id",
            "alert_id",
            "channel_id",
            "user_id",
            "target",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "external_message_id",
            "updates_delivery_id",
            "escalation_level",
            "created_at",
            "updated_at",
            "sent_at",
            "episode",
            "message_id",
            "note",
        ],
    ),
    ("calendar_feeds", &["id", "team_id", "user_id", "name", "token_hash", "token_prefix", "created_at"]),
    ("intake_webhook_ids", &["route_id", "webhook_id", "seen_at"]),
    (
        "audit_logs",
        &["id", "actor_user_id", "actor", "action", "object_type", "object_id", "group_id", "details", "created_at"],
    ),
];

/// Opens the database file read-only and checks it: its schema version and what is missing.
pub fn check_file(path: &std::path::Path) -> Result<(i32, Vec<String>)> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| super::StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let r = Read { conn: &conn };
    Ok((super::applied_version(&conn)?, check(&r)?))
}

/// Lists what is missing: `table x` or `column x.y`. Empty means the schema is complete.
pub fn check(conn: &Read<'_>) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for (table, columns) in EXPECTED {
        let present = columns_of(conn, table)?;
        if present.is_empty() {
            missing.push(format!("table {table}"));
            continue;
        }
        for c in *columns {
            if !present.iter().any(|p| p == c) {
                missing.push(format!("column {table}.{c}"));
            }
        }
    }
    Ok(missing)
}

fn columns_of(conn: &Read<'_>, table: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let cols = st.query_map([table], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_schema_equals_the_migrated_one() {
        let (db, _dir) = crate::store::testing::db();
        db.read_blocking(|c| {
            assert_eq!(check(c)?, Vec::<String>::new());
            let mut st = c.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history'
                 AND name NOT LIKE 'alerts_fts_%'",
            )?;
            let tables = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            for t in &tables {
                let listed = EXPECTED.iter().find(|(n, _)| n == t);
                let listed = listed.unwrap_or_else(|| panic!("table {t} is not in schema::EXPECTED"));
                assert_eq!(columns_of(c, t)?.len(), listed.1.len(), "columns of {t} differ from schema::EXPECTED");
            }
            assert_eq!(tables.len(), EXPECTED.len());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn reports_what_is_missing() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE settings (key TEXT)").unwrap();
        let missing = check(&Read { conn: &conn }).unwrap();
        assert!(missing.contains(&"column settings.value".to_string()));
        assert!(missing.contains(&"table users".to_string()));
    }
}
