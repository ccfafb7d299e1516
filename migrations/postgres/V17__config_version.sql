-- What intake reads of the paging configuration (a team's silences, a rotation's layers,
-- members and overrides, a route's channels, a person's notification rules and contact
-- methods) is kept in memory between transactions while this number is unchanged. Every
-- change to those tables bumps it here, from triggers, so no writer can forget to
-- (store::config_cache).
CREATE TABLE config_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
CREATE FUNCTION bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_version SET version = version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER teams_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON teams FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER silences_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON silences FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rotations_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotations FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rotation_layers_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotation_layers FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rotation_members_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotation_members FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rotation_overrides_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rotation_overrides FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER channels_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON channels FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER route_channels_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON route_channels FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER notification_rules_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notification_rules FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER contact_methods_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contact_methods FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
