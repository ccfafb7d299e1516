-- The reopen lookup (a key's alert resolved within the reopen window) needs resolved alerts by
-- key; open ones are found through the unique index alerts_open_dedup. Indexing only resolved
-- alerts here means a new alert enters one index keyed by its random dedup key instead of two:
-- in an alert storm each such entry dirties a page of its own, half of what a new alert wrote.
DROP INDEX alerts_route_dedup;
CREATE INDEX alerts_resolved_dedup ON alerts(route_id, dedup_key, resolved_at) WHERE status = 'resolved';
