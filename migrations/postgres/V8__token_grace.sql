-- A regenerated intake token may leave the previous one working for a grace period, so that
-- senders can be switched over without losing alerts.
ALTER TABLE routes ADD COLUMN previous_token_hash TEXT;
ALTER TABLE routes ADD COLUMN previous_token_prefix TEXT;
ALTER TABLE routes ADD COLUMN previous_token_expires_at BIGINT;
CREATE INDEX routes_previous_token ON routes(previous_token_hash) WHERE previous_token_hash IS NOT NULL;
