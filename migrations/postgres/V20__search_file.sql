-- The indexer's bookkeeping, as on SQLite (migrations/sqlite/V20__search_file.sql), where the
-- index and `search_state` live in a file of their own. Here they stay in the database, and a
-- deleted alert leaves the index by its foreign key (ON DELETE CASCADE).
CREATE TABLE search_queue (
    id       BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL
);
-- dialect: every new alert is queued too. PostgreSQL numbers an alert when its transaction
-- inserts it, not when it commits, so an alert can commit after a later-numbered one was
-- indexed, below the watermark; the queue still names it. (SQLite has one writer: its alerts
-- commit in id order.)
CREATE FUNCTION search_queue_new_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (alert_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER search_queue_new_alert AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION search_queue_new_alert();
-- How far the index has got (key 'alert_id': the highest alert id indexed).
CREATE TABLE search_state (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO search_state (key, value)
    SELECT 'alert_id', CAST(value AS BIGINT) FROM settings WHERE key = 'search_indexed_alert_id';
DELETE FROM settings WHERE key = 'search_indexed_alert_id';
