-- Rotation layers: a rotation is one or more layers, each with its own handoffs, members and
-- restrictions (the hours it covers). Each rotation's own handoff settings and members become
-- its layer 1; the rotation keeps its name, zone, reminders and overrides.
CREATE TABLE rotation_layers (
    id              INTEGER PRIMARY KEY,
    rotation_id     INTEGER NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL DEFAULT '',
    position        INTEGER NOT NULL,
    start_at        INTEGER NOT NULL,
    rotation_type   TEXT NOT NULL CHECK (rotation_type IN ('daily', 'weekly', 'custom')),
    interval_value  INTEGER NOT NULL DEFAULT 1,
    interval_unit   TEXT NOT NULL DEFAULT 'days' CHECK (interval_unit IN ('minutes', 'hours', 'days', 'weeks')),
    handoff_time    TEXT NOT NULL DEFAULT '09:00',
    handoff_weekday INTEGER NOT NULL DEFAULT 0,
    restrictions    TEXT NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX rotation_layers_rotation ON rotation_layers(rotation_id, position);
INSERT INTO rotation_layers (rotation_id, name, position, start_at, rotation_type, interval_value, interval_unit,
                             handoff_time, handoff_weekday, created_at, updated_at)
    SELECT id, 'Layer 1', 1, start_at, rotation_type, interval_value, interval_unit, handoff_time, handoff_weekday,
           created_at, updated_at
    FROM rotations;
ALTER TABLE rotation_members ADD COLUMN layer_id INTEGER REFERENCES rotation_layers(id) ON DELETE CASCADE;
UPDATE rotation_members SET layer_id = (SELECT l.id FROM rotation_layers l WHERE l.rotation_id = rotation_members.rotation_id);
CREATE INDEX rotation_members_layer ON rotation_members(layer_id, position);
ALTER TABLE rotations DROP COLUMN start_at;
ALTER TABLE rotations DROP COLUMN rotation_type;
ALTER TABLE rotations DROP COLUMN interval_value;
ALTER TABLE rotations DROP COLUMN interval_unit;
ALTER TABLE rotations DROP COLUMN handoff_time;
ALTER TABLE rotations DROP COLUMN handoff_weekday;
