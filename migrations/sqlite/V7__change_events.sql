-- PagerDuty Change Events (`POST /v2/change/enqueue`): changes to a team's systems (a deploy, a
-- configuration applied) that page nobody and show beside its alerts.
CREATE TABLE change_events (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    route_id    INTEGER REFERENCES routes(id) ON DELETE SET NULL,
    summary     TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    happened_at INTEGER NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    links       TEXT NOT NULL DEFAULT '[]',
    images      TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL
);
CREATE INDEX change_events_team ON change_events(team_id, happened_at);
