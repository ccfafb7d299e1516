-- One person's iCalendar feed over all their rotations (overrides included); the token in the
-- feed's URL is its credential, stored hashed.
CREATE TABLE personal_feeds (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX personal_feeds_user ON personal_feeds(user_id);
