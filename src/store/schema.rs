//! What the code expects of the database, checked by `incidentrelay check-schema`. A unit test
//! keeps this list equal to what the migrations create, so it cannot drift.

use super::{Dialect, Read, Result};
use crate::args;

/// The search index's tables: on SQLite they live in a file of their own, created by the
/// server rather than by migrations (see `store::sqlite::SearchIndex`).
pub const SEARCH_INDEX: [&str; 2] = ["alerts_fts", "search_state"];

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
            "time_zone",
            "shift_notify_before_minutes",
        ],
    ),
    ("group_memberships", &["id", "group_id", "user_id", "role", "created_at", "updated_at"]),
    (
        "contact_methods",
        &[
            "id",
            "user_id",
            "method_type",
            "label",
            "value",
            "secret",
            "enabled",
            "verified_at",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "notification_rules",
        &["id", "user_id", "contact_method_id", "delay_seconds", "severities", "created_at", "updated_at"],
    ),
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
            "timezone",
            "reminder_interval_seconds",
            "enabled",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "rotation_layers",
        &[
            "id",
            "rotation_id",
            "name",
            "position",
            "start_at",
            "rotation_type",
            "interval_value",
            "interval_unit",
            "handoff_time",
            "handoff_weekday",
            "restrictions",
            "created_at",
            "updated_at",
        ],
    ),
    ("rotation_members", &["id", "rotation_id", "user_id", "position", "created_at", "layer_id"]),
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
            "previous_token_hash",
            "previous_token_prefix",
            "previous_token_expires_at",
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
            "links",
            "images",
            "snoozed_until",
        ],
    ),
    ("alerts_fts", &["body"]),
    ("search_state", &["key", "value"]),
    ("search_queue", &["id", "alert_id"]),
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
            "lease_until",
            "contact_method_id",
            "fallback_email",
        ],
    ),
    ("calendar_feeds", &["id", "team_id", "user_id", "name", "token_hash", "token_prefix", "created_at"]),
    ("personal_feeds", &["id", "user_id", "name", "token_hash", "token_prefix", "created_at"]),
    ("shift_notices", &["user_id", "rotation_id", "shift_start", "kind", "created_at"]),
    (
        "swap_requests",
        &[
            "id",
            "rotation_id",
            "requester_id",
            "starts_at",
            "ends_at",
            "reason",
            "status",
            "accepted_by",
            "override_id",
            "created_at",
            "updated_at",
        ],
    ),
    ("intake_webhook_ids", &["route_id", "webhook_id", "seen_at"]),
    ("config_version", &["id", "version"]),
    (
        "change_events",
        &["id", "team_id", "route_id", "summary", "source", "happened_at", "details", "links", "images", "created_at"],
    ),
    (
        "audit_logs",
        &["id", "actor_user_id", "actor", "action", "object_type", "object_id", "group_id", "details", "created_at"],
    ),
];

/// Checks a database without changing it: its schema version and what is missing.
pub fn inspect(r: &Read<'_>) -> Result<(i32, Vec<String>)> {
    Ok((super::schema_version(r)?, check(r)?))
}

/// Lists what is missing: `table x` or `column x.y`. Empty means the schema is complete.
pub fn check(conn: &Read<'_>) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    let in_database = |t: &&(&str, &[&str])| conn.dialect() == Dialect::Postgres || !SEARCH_INDEX.contains(&t.0);
    for (table, columns) in EXPECTED.iter().filter(in_database) {
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

/// The columns of a table, in order (none: no such table).
pub fn columns_of(conn: &Read<'_>, table: &str) -> Result<Vec<String>> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1)",
        Dialect::Postgres => {
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    conn.rows(sql, args![table], |r| r.get::<String, _>(0))
}

/// The application's tables (migration bookkeeping and SQLite's internals left out).
pub fn tables(conn: &Read<'_>) -> Result<Vec<String>> {
    let sql = match conn.dialect() {
        // With the search index's file when it is attached (the server's connections).
        Dialect::Sqlite => {
            "SELECT name FROM pragma_table_list WHERE schema IN ('main', 'search') AND type IN ('table', 'virtual')
             AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()
             AND table_type = 'BASE TABLE' AND table_name <> 'refinery_schema_history' ORDER BY table_name"
        }
    };
    conn.rows(sql, &[], |r| r.get::<String, _>(0))
}

/// Differences between the migrated schema and [`EXPECTED`]: what is missing, and tables or
/// columns that are not listed (both backends' migrations are held to the one list).
pub fn differences(c: &Read<'_>) -> Result<Vec<String>> {
    let mut problems = check(c)?;
    for t in tables(c)? {
        match EXPECTED.iter().find(|(n, _)| *n == t) {
            None => problems.push(format!("table {t} is not in schema::EXPECTED")),
            Some((_, cols)) => {
                // SQLite's implicit `rowid` is an explicit column on PostgreSQL (alerts_fts).
                for col in columns_of(c, &t)?.into_iter().filter(|c| c != "rowid") {
                    if !cols.contains(&col.as_str()) {
                        problems.push(format!("column {t}.{col} is not in schema::EXPECTED"));
                    }
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_schema_equals_the_migrated_one() {
        let (db, _dir) = crate::store::testing::db();
        db.read_blocking(|c| {
            assert_eq!(differences(c)?, Vec::<String>::new());
            assert_eq!(tables(c)?.len(), EXPECTED.len());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn reports_what_is_missing() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE settings (key TEXT)").unwrap();
        let missing = check(&Read::sqlite(&conn)).unwrap();
        assert!(missing.contains(&"column settings.value".to_string()));
        assert!(missing.contains(&"table users".to_string()));
    }
}
