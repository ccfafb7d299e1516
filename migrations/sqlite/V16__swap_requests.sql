-- Swap requests: the person on call asks for cover over a stretch of their shifts; another
-- member of the team accepts, which creates an override for them.
CREATE TABLE swap_requests (
    id           INTEGER PRIMARY KEY,
    rotation_id  INTEGER NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    requester_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'cancelled')),
    accepted_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    override_id  INTEGER REFERENCES rotation_overrides(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX swap_requests_rotation ON swap_requests(rotation_id, status, starts_at);
