-- The dispatcher claims the oldest due rows of each channel: an index range scan per channel
-- instead of sorting every due row on every cycle.
CREATE INDEX deliveries_channel_due ON deliveries(channel_id, next_attempt_at, id) WHERE status IN ('pending', 'failed');
