-- Shift notifications: how long before a shift each person hears of it (0 = never), and the
-- notices already queued (each once per person, rotation, shift start and kind).
ALTER TABLE users ADD COLUMN shift_notify_before_minutes INTEGER NOT NULL DEFAULT 60;
CREATE TABLE shift_notices (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rotation_id INTEGER NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    shift_start INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, rotation_id, shift_start, kind)
);
CREATE INDEX shift_notices_created ON shift_notices(created_at);
