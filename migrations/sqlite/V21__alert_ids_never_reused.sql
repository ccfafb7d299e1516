-- An alert's id is never given to another alert. SQLite gives a new row the largest id in the
-- table plus one, so once the newest alert is deleted (by retention, or with its team) the next
-- alert would get its id, and a chat button signed for the deleted alert could act on the new one.
-- This records the largest id deleted, and `alerts::insert` numbers new alerts above it.
CREATE TRIGGER alerts_deleted_max_id AFTER DELETE ON alerts
WHEN old.id > COALESCE((SELECT MAX(id) FROM alerts), 0)
 AND old.id > COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'alerts.deleted_max_id'), 0)
BEGIN
    INSERT OR REPLACE INTO settings (key, value) VALUES ('alerts.deleted_max_id', old.id);
END;
-- Alerts deleted before this migration left no mark, except in the audit log of what people did
-- to them: its largest alert id, when no alert has a larger one, starts the mark.
INSERT INTO settings (key, value)
SELECT 'alerts.deleted_max_id', m FROM (SELECT MAX(object_id) AS m FROM audit_logs WHERE object_type = 'alert')
WHERE m > COALESCE((SELECT MAX(id) FROM alerts), 0);
