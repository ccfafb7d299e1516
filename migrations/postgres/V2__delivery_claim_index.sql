-- Folded into V1 for PostgreSQL (see migrations/sqlite/V2__delivery_claim_index.sql): both backends count the
-- same versions.
SELECT 1;
