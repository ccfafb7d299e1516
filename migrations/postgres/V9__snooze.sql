-- Snoozed alerts: acknowledged until this instant, then firing again from their current step
-- (the engine's timer is next_action_at, as for reminders and escalation).
ALTER TABLE alerts ADD COLUMN snoozed_until BIGINT;
