-- IncidentRelay schema, version 1.
-- Timestamps are INTEGER Unix milliseconds written from the injected clock.
-- JSON columns hold TEXT validated by the application.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name         TEXT NOT NULL DEFAULT '',
    email                TEXT,
    phone                TEXT,
    password_hash        TEXT NOT NULL,
    is_admin             INTEGER NOT NULL DEFAULT 0,
    active               INTEGER NOT NULL DEFAULT 1,
    telegram_user_id     TEXT,
    slack_user_id        TEXT,
    mattermost_user_id   TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    active_group_id      INTEGER REFERENCES groups(id) ON DELETE SET NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_telegram ON users(telegram_user_id) WHERE telegram_user_id IS NOT NULL;
CREATE UNIQUE INDEX users_slack ON users(slack_user_id) WHERE slack_user_id IS NOT NULL;
CREATE UNIQUE INDEX users_mattermost ON users(mattermost_user_id) WHERE mattermost_user_id IS NOT NULL;

CREATE TABLE group_memberships (
    id         INTEGER PRIMARY KEY,
    group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'editor')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (group_id, user_id)
);
CREATE INDEX group_memberships_user ON group_memberships(user_id);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    group_id     INTEGER REFERENCES groups(id) ON DELETE CASCADE,
    expires_at   INTEGER,
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE teams (
    id                         INTEGER PRIMARY KEY,
    group_id                   INTEGER NOT NULL REFERENCES groups(id) ON DELETE RESTRICT,
    slug                       TEXT NOT NULL UNIQUE,
    name                       TEXT NOT NULL,
    description                TEXT NOT NULL DEFAULT '',
    escalation_enabled         INTEGER NOT NULL DEFAULT 1,
    escalation_after_reminders INTEGER NOT NULL DEFAULT 2,
    active                     INTEGER NOT NULL DEFAULT 1,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX teams_group ON teams(group_id);

CREATE TABLE team_members (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    UNIQUE (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE rotations (
    id                        INTEGER PRIMARY KEY,
    team_id                   INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name                      TEXT NOT NULL,
    description               TEXT NOT NULL DEFAULT '',
    start_at                  INTEGER NOT NULL,
    rotation_type             TEXT NOT NULL CHECK (rotation_type IN ('daily', 'weekly', 'custom')),
    interval_value            INTEGER NOT NULL DEFAULT 1,
    interval_unit             TEXT NOT NULL DEFAULT 'days' CHECK (interval_unit IN ('minutes', 'hours', 'days', 'weeks')),
    handoff_time              TEXT NOT NULL DEFAULT '09:00',
    handoff_weekday           INTEGER NOT NULL DEFAULT 0,
    timezone                  TEXT NOT NULL DEFAULT 'UTC',
    reminder_interval_seconds INTEGER NOT NULL DEFAULT 0,
    enabled                   INTEGER NOT NULL DEFAULT 1,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE rotation_members (
    id          INTEGER PRIMARY KEY,
    rotation_id INTEGER NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX rotation_members_rotation ON rotation_members(rotation_id, position);

CREATE TABLE rotation_overrides (
    id          INTEGER PRIMARY KEY,
    rotation_id INTEGER NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX rotation_overrides_rotation ON rotation_overrides(rotation_id, ends_at);

CREATE TABLE channels (
    id                   INTEGER PRIMARY KEY,
    team_id              INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    channel_type         TEXT NOT NULL,
    config               TEXT NOT NULL DEFAULT '{}',
    notify_on_severities TEXT NOT NULL DEFAULT '[]',
    enabled              INTEGER NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE escalation_policies (
    id           INTEGER PRIMARY KEY,
    team_id      INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    repeat_count INTEGER NOT NULL DEFAULT 0,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE escalation_rules (
    id            INTEGER PRIMARY KEY,
    policy_id     INTEGER NOT NULL REFERENCES escalation_policies(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    delay_seconds INTEGER NOT NULL DEFAULT 0,
    target_type   TEXT NOT NULL CHECK (target_type IN ('rotation', 'user', 'channel')),
    target_id     INTEGER NOT NULL
);
CREATE INDEX escalation_rules_policy ON escalation_rules(policy_id, position);
CREATE INDEX escalation_rules_target ON escalation_rules(target_type, target_id);

CREATE TABLE routes (
    id                   INTEGER PRIMARY KEY,
    team_id              INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    source               TEXT NOT NULL CHECK (source IN ('alertmanager', 'zabbix', 'webhook', 'grafana', 'events')),
    rotation_id          INTEGER REFERENCES rotations(id) ON DELETE RESTRICT,
    escalation_policy_id INTEGER REFERENCES escalation_policies(id) ON DELETE RESTRICT,
    matchers             TEXT NOT NULL DEFAULT '{}',
    group_by             TEXT NOT NULL DEFAULT '[]',
    enabled              INTEGER NOT NULL DEFAULT 1,
    intake_token_hash    TEXT NOT NULL UNIQUE,
    intake_token_prefix  TEXT NOT NULL,
    signing_secret       TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE route_channels (
    route_id   INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (route_id, channel_id)
) WITHOUT ROWID;
CREATE INDEX route_channels_channel ON route_channels(channel_id);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    matchers   TEXT NOT NULL DEFAULT '{}',
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX silences_team ON silences(team_id, ends_at);

CREATE TABLE alerts (
    id                      INTEGER PRIMARY KEY,
    team_id                 INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    route_id                INTEGER REFERENCES routes(id) ON DELETE SET NULL,
    rotation_id             INTEGER REFERENCES rotations(id) ON DELETE SET NULL,
    escalation_policy_id    INTEGER REFERENCES escalation_policies(id) ON DELETE SET NULL,
    source                  TEXT NOT NULL,
    dedup_key               TEXT NOT NULL,
    group_key               TEXT,
    title                   TEXT NOT NULL,
    message                 TEXT NOT NULL DEFAULT '',
    severity                TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('firing', 'acknowledged', 'resolved', 'silenced')),
    labels                  TEXT NOT NULL DEFAULT '{}',
    event_link              TEXT,
    alert_count             INTEGER NOT NULL DEFAULT 1,
    first_seen_at           INTEGER NOT NULL,
    last_seen_at            INTEGER NOT NULL,
    assignee_user_id        INTEGER REFERENCES users(id) ON DELETE SET NULL,
    acknowledged_by         TEXT,
    acknowledged_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    acknowledged_at         INTEGER,
    resolved_by             TEXT,
    resolved_at             INTEGER,
    reminder_count          INTEGER NOT NULL DEFAULT 0,
    escalation_level        INTEGER NOT NULL DEFAULT 0,
    escalation_cycle        INTEGER NOT NULL DEFAULT 0,
    next_action_at          INTEGER,
    flapping                INTEGER NOT NULL DEFAULT 0,
    state_changes           TEXT NOT NULL DEFAULT '[]',
    silence_id              INTEGER REFERENCES silences(id) ON DELETE SET NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
-- One open alert per route and dedup key; resolved ones are history.
CREATE UNIQUE INDEX alerts_open_dedup ON alerts(route_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_route_dedup ON alerts(route_id, dedup_key, resolved_at);
CREATE INDEX alerts_group ON alerts(route_id, group_key) WHERE group_key IS NOT NULL AND status <> 'resolved';
CREATE INDEX alerts_status ON alerts(status, id);
-- Covers every list filter within a team (team_id, status, severity, source), so filtered pages
-- and their counts never touch the table.
CREATE INDEX alerts_team_filters ON alerts(team_id, status, severity, source, id);
CREATE INDEX alerts_severity ON alerts(severity, id);
CREATE INDEX alerts_source ON alerts(source, id);
CREATE INDEX alerts_next_action ON alerts(next_action_at) WHERE next_action_at IS NOT NULL;
CREATE INDEX alerts_resolved_at ON alerts(resolved_at) WHERE status = 'resolved';
CREATE INDEX alerts_assignee ON alerts(assignee_user_id, status) WHERE assignee_user_id IS NOT NULL;
CREATE INDEX alerts_flapping ON alerts(id) WHERE flapping = 1;
CREATE INDEX alerts_silenced ON alerts(silence_id) WHERE status = 'silenced';

-- Substring search over an alert's title and label values (trigram index; rowid = alert id).
CREATE VIRTUAL TABLE alerts_fts USING fts5(body, content='', contentless_delete=1, tokenize='trigram');
CREATE TRIGGER alerts_fts_delete AFTER DELETE ON alerts BEGIN
    DELETE FROM alerts_fts WHERE rowid = old.id;
END;

-- Members of alerts merged by a route's group_by (the alert's own dedup_key is the first member).
CREATE TABLE alert_group_members (
    alert_id      INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    route_id      INTEGER,
    dedup_key     TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (alert_id, dedup_key)
) WITHOUT ROWID;
CREATE INDEX alert_group_members_key ON alert_group_members(route_id, dedup_key);

CREATE TABLE alert_events (
    id         INTEGER PRIMARY KEY,
    alert_id   INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    actor      TEXT,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);

CREATE TABLE deliveries (
    id                   INTEGER PRIMARY KEY,
    alert_id             INTEGER REFERENCES alerts(id) ON DELETE CASCADE,
    channel_id           INTEGER REFERENCES channels(id) ON DELETE SET NULL,
    user_id              INTEGER REFERENCES users(id) ON DELETE SET NULL,
    target               TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER NOT NULL,
    last_error           TEXT,
    external_message_id  TEXT,
    updates_delivery_id  INTEGER REFERENCES deliveries(id) ON DELETE SET NULL,
    escalation_level     INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    sent_at              INTEGER
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_alert ON deliveries(alert_id, id);
CREATE INDEX deliveries_sending ON deliveries(status) WHERE status = 'sending';

CREATE TABLE calendar_feeds (
    id           INTEGER PRIMARY KEY,
    team_id      INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Standard Webhooks ids already accepted on signed routes (replay protection).
CREATE TABLE intake_webhook_ids (
    route_id   INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (route_id, webhook_id)
) WITHOUT ROWID;

CREATE TABLE audit_logs (
    id            INTEGER PRIMARY KEY,
    actor_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    object_id     INTEGER,
    group_id      INTEGER,
    details       TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL
);
CREATE INDEX audit_logs_created ON audit_logs(created_at);
CREATE INDEX audit_logs_object ON audit_logs(object_type, object_id);
