-- Each person's time zone (IANA name) for the web UI; NULL: the installation's default
-- (ui.default_time_zone).
ALTER TABLE users ADD COLUMN time_zone TEXT;
