-- How each person is reached (their own contact methods, verified by a test message), and their
-- notification rules: which method, how long after they are paged, for which severities. The
-- engine writes one outbox row per rule when the person is paged; those rows name their contact
-- method instead of a channel.
CREATE TABLE contact_methods (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    method_type TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    value       TEXT NOT NULL,
    secret      TEXT,
    enabled     INTEGER NOT NULL DEFAULT 1,
    verified_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX contact_methods_user ON contact_methods(user_id);

CREATE TABLE notification_rules (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_method_id INTEGER NOT NULL REFERENCES contact_methods(id) ON DELETE CASCADE,
    delay_seconds     INTEGER NOT NULL DEFAULT 0,
    severities        TEXT NOT NULL DEFAULT '[]',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX notification_rules_user ON notification_rules(user_id);

ALTER TABLE deliveries ADD COLUMN contact_method_id INTEGER REFERENCES contact_methods(id) ON DELETE SET NULL;
CREATE INDEX deliveries_method_due ON deliveries(contact_method_id, next_attempt_at, id)
 WHERE status IN ('pending', 'failed') AND contact_method_id IS NOT NULL;
