-- A claimed delivery ('sending') is leased: until lease_until (ms) the claiming process may
-- record its result; after that another process may claim it again, and the first one's late
-- result is fenced out by the attempt number (see store::outbox).
ALTER TABLE deliveries ADD COLUMN lease_until BIGINT;
