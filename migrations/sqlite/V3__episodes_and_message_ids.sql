-- An alert's episode: 0 when it opens, +1 each time it is reopened. Signed links, chat buttons
-- and voice keypresses carry the episode they were sent in and act on no other.
ALTER TABLE alerts ADD COLUMN episode INTEGER NOT NULL DEFAULT 0;
-- The episode of the alert a delivery was queued in.
ALTER TABLE deliveries ADD COLUMN episode INTEGER NOT NULL DEFAULT 0;
-- The globally unique message id (`webhook-id`, e-mail Message-ID), stable across retries.
-- Rows queued before this migration keep their old `msg_<id>`.
ALTER TABLE deliveries ADD COLUMN message_id TEXT;
-- What a notice says beyond the alert (e.g. which page could not be delivered, and why).
ALTER TABLE deliveries ADD COLUMN note TEXT;
