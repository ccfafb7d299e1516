-- The same number as migrations/sqlite/V21__alert_ids_never_reused.sql, which keeps SQLite from
-- giving a deleted alert's id to a new one. Here `alerts.id` comes from a sequence, which never
-- gives an id twice: nothing to change.
SELECT 1;
