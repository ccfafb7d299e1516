-- A claimed delivery ('sending') is leased: until lease_until (ms) the claiming process may
-- record its result; after that another process may claim it again (PostgreSQL, several
-- processes) and the first one's late result is fenced out by the attempt number.
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
