-- SQLite only (see migrations/sqlite/V19__search_merge.sql: how FTS5 merges its segments);
-- PostgreSQL's search index is a pg_trgm GIN index. Both backends count the same versions.
SELECT 1;
