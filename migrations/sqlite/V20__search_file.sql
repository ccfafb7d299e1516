-- The search index moves to a file of its own, `<database>.search`, written by a connection of
-- its own, so that indexing an alert storm never holds up intake on the writer (see
-- src/store/sqlite.rs, `SearchIndex`). The engine builds it there from the alerts, so it is
-- rebuilt on the first start after this migration; until it has caught up, a search finds the
-- alerts indexed so far.
--
-- Changes to an indexed alert's text (a repeat with new content, a reopen) and deletions
-- (retention) are queued here for the indexer, which cannot write this file.
DROP TRIGGER alerts_fts_delete;
DROP TABLE alerts_fts;
DELETE FROM settings WHERE key = 'search_indexed_alert_id';
CREATE TABLE search_queue (
    id       INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL
);
CREATE TRIGGER search_queue_deleted_alert AFTER DELETE ON alerts BEGIN
    INSERT INTO search_queue (alert_id) VALUES (old.id);
END;
