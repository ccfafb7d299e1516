-- Folded into V1 for PostgreSQL (see migrations/sqlite/V4__open_groups_and_open_sources.sql): both backends count the
-- same versions.
SELECT 1;
