-- The indexer's bookkeeping, as on SQLite (migrations/sqlite/V20__search_file.sql), where the
-- index and `search_state` live in a file of their own. Here they stay in the database and a
-- deleted alert leaves the index by its foreign key (ON DELETE CASCADE), so only changes of an
-- indexed alert's text are queued.
CREATE TABLE search_queue (
    id       BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL
);
-- How far the index has got (key 'alert_id': the highest alert id indexed).
CREATE TABLE search_state (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO search_state (key, value)
    SELECT 'alert_id', CAST(value AS BIGINT) FROM settings WHERE key = 'search_indexed_alert_id';
DELETE FROM settings WHERE key = 'search_indexed_alert_id';
