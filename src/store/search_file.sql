-- The search index's own file, `<database>.search` (SQLite only; see `SearchIndex` in
-- src/store/sqlite.rs). It is derived from the alerts and rebuilt whenever it is missing,
-- stale or of another format (`user_version`), so it has no migrations.
DROP TABLE IF EXISTS main.alerts_fts;
DROP TABLE IF EXISTS main.search_state;
-- Substring search over an alert's dedup key, title and label values; rowid = alert id.
CREATE VIRTUAL TABLE main.alerts_fts USING fts5(body, content='', contentless_delete=1, tokenize='trigram');
-- New alerts are indexed in small batches, each a new segment. By default FTS5 merges every
-- 4 segments of a level (automerge) and a whole level at once when it reaches 16
-- (crisismerge). Merging 16 at a time, with crisis merges at 64, rewrites each entry about
-- half as often and keeps the merges incremental (migrations/sqlite/V19__search_merge.sql has
-- the figures).
INSERT INTO main.alerts_fts (alerts_fts, rank) VALUES ('automerge', 16);
INSERT INTO main.alerts_fts (alerts_fts, rank) VALUES ('crisismerge', 64);
-- How far the index has got (key 'alert_id': the highest alert id indexed), written in the
-- same transactions as the index.
CREATE TABLE main.search_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
PRAGMA main.user_version = 1;
