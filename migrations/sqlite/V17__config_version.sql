-- What intake reads of the paging configuration (a team's silences, a rotation's layers,
-- members and overrides, a route's channels, a person's notification rules and contact
-- methods) is kept in memory between transactions while this number is unchanged. Every
-- change to those tables bumps it here, from triggers, so no writer can forget to
-- (store::config_cache).
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
CREATE TRIGGER teams_config_insert AFTER INSERT ON teams BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER teams_config_update AFTER UPDATE ON teams BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER teams_config_delete AFTER DELETE ON teams BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER silences_config_insert AFTER INSERT ON silences BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER silences_config_update AFTER UPDATE ON silences BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER silences_config_delete AFTER DELETE ON silences BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotations_config_insert AFTER INSERT ON rotations BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotations_config_update AFTER UPDATE ON rotations BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotations_config_delete AFTER DELETE ON rotations BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_layers_config_insert AFTER INSERT ON rotation_layers BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_layers_config_update AFTER UPDATE ON rotation_layers BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_layers_config_delete AFTER DELETE ON rotation_layers BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_members_config_insert AFTER INSERT ON rotation_members BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_members_config_update AFTER UPDATE ON rotation_members BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_members_config_delete AFTER DELETE ON rotation_members BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_overrides_config_insert AFTER INSERT ON rotation_overrides BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_overrides_config_update AFTER UPDATE ON rotation_overrides BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER rotation_overrides_config_delete AFTER DELETE ON rotation_overrides BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER channels_config_insert AFTER INSERT ON channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER channels_config_update AFTER UPDATE ON channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER channels_config_delete AFTER DELETE ON channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER route_channels_config_insert AFTER INSERT ON route_channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER route_channels_config_update AFTER UPDATE ON route_channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER route_channels_config_delete AFTER DELETE ON route_channels BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER notification_rules_config_insert AFTER INSERT ON notification_rules BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER notification_rules_config_update AFTER UPDATE ON notification_rules BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER notification_rules_config_delete AFTER DELETE ON notification_rules BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER contact_methods_config_insert AFTER INSERT ON contact_methods BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER contact_methods_config_update AFTER UPDATE ON contact_methods BEGIN UPDATE config_version SET version = version + 1; END;
CREATE TRIGGER contact_methods_config_delete AFTER DELETE ON contact_methods BEGIN UPDATE config_version SET version = version + 1; END;
