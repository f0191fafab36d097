-- The state of the project on a given date: every installation that existed then, with
-- its integration, group, consumer, connection status and health as they were, read
-- with the *_as_of functions (all at the same time, so the joins line up).
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/installations_as_of.sql
-- Example: psql "$DATABASE_URL" -v at=2026-11-05T00:00:00Z -f sql/queries/installations_as_of.sql
-- Parameters (psql variables):
--   at   the moment to look at (default: now, which gives the current state)
-- In a BI tool, replace :'at' with a literal such as '2026-11-05'.
--
-- Columns:
--   project_id             the project
--   installation_id        the installation
--   integration_name       the integration installed
--   provider               the provider
--   group_ref              the group it was installed for
--   group_name             the group's name then
--   consumer_name          who created its connection
--   connection_status      its connection's status then
--   health_status          its health then
--   last_operation_status  its last operation's outcome then
--   version_since          since when the installation had been as shown
\if :{?at}
\else
\set at now
\endif
SELECT i.project_id,
       i.id AS installation_id,
       ig.name AS integration_name,
       coalesce(ig.provider, c.provider) AS provider,
       i.group_ref,
       g.group_name,
       cu.consumer_name,
       c.status AS connection_status,
       i.health_status,
       i.last_operation_status,
       i.valid_from AS version_since
FROM ampersand.installations_as_of(:'at') AS i
LEFT JOIN ampersand.integrations_as_of(:'at') AS ig ON ig.id = i.integration_id
LEFT JOIN ampersand.groups_as_of(:'at') AS g ON g.project_id = i.project_id AND g.group_ref = i.group_ref
LEFT JOIN ampersand.connections_as_of(:'at') AS c ON c.id = i.connection_id
LEFT JOIN ampersand.consumers_as_of(:'at') AS cu ON cu.project_id = c.project_id AND cu.consumer_ref = c.consumer_ref
ORDER BY i.project_id, integration_name, g.group_name, installation_id;
