-- Folded into V1 for PostgreSQL (see migrations/sqlite/V3__episodes_and_message_ids.sql): both backends count the
-- same versions.
SELECT 1;
