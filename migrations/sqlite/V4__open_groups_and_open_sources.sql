-- Sources are the application's list (domain::alert::Source): a new one must not need a table
-- rebuild, so the CHECK on routes.source goes. SQLite drops a CHECK constraint only by editing
-- the stored schema (https://www.sqlite.org/lang_altertable.html#otheralter); the ALTER TABLE
-- that follows changes the schema version, so every connection reads the schema again.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, ' CHECK (source IN (''alertmanager'', ''zabbix'', ''webhook'', ''grafana'', ''events''))', '')
 WHERE type = 'table' AND name = 'routes';
PRAGMA writable_schema = OFF;

-- A group alert takes new members while its group is open. One open group per route and group
-- key, enforced by the schema and not only by the single writer: a group past its window closes
-- for new members when the next one opens.
ALTER TABLE alerts ADD COLUMN group_open INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET group_open = 1
 WHERE group_key IS NOT NULL AND status <> 'resolved'
   AND id = (SELECT MAX(o.id) FROM alerts o
              WHERE o.route_id = alerts.route_id AND o.group_key = alerts.group_key AND o.status <> 'resolved');
DROP INDEX alerts_group;
CREATE UNIQUE INDEX alerts_open_group ON alerts(route_id, group_key)
 WHERE group_key IS NOT NULL AND status <> 'resolved' AND group_open = 1;
