-- Who connected but never installed: every connection that existed on a given date
-- and that no installation used then, with its provider, group and consumer as they
-- were, and how long ago it was made. Read with the *_as_of functions, so it answers
-- for any past date too. Only syncs that read the connections list (and imports with
-- --connections-file) show connections that no installation embeds; see
-- sync_runs.lists_unavailable. For the counts per provider and group over time, query
-- the view ampersand.connection_funnel.
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/connected_not_installed.sql
-- Example: psql "$DATABASE_URL" -v at=2026-11-08T00:00:00Z -f sql/queries/connected_not_installed.sql
-- Parameters (psql variables):
--   at   the moment to look at (default: now, which gives the current state)
-- In a BI tool, replace :'at' with a literal such as '2026-11-08'.
--
-- Columns:
--   project_id       the project
--   connection_id    the connection no installation used
--   provider         its provider
--   group_ref        the group it belongs to
--   group_name       the group's name then
--   consumer_name    who made the connection
--   status           the connection's status then
--   connected_at     when it was made (create_time)
--   days_waiting     whole days from connected_at to at
\if :{?at}
\else
\set at now
\endif
SELECT c.project_id,
       c.id AS connection_id,
       c.provider,
       c.group_ref,
       g.group_name,
       cu.consumer_name,
       c.status,
       c.create_time AS connected_at,
       extract(day FROM (:'at'::timestamptz - c.create_time))::int AS days_waiting
FROM ampersand.connections_as_of(:'at') AS c
LEFT JOIN ampersand.groups_as_of(:'at') AS g ON g.project_id = c.project_id AND g.group_ref = c.group_ref
LEFT JOIN ampersand.consumers_as_of(:'at') AS cu ON cu.project_id = c.project_id AND cu.consumer_ref = c.consumer_ref
WHERE NOT EXISTS (SELECT 1 FROM ampersand.installations_as_of(:'at') AS i
                  WHERE i.project_id = c.project_id AND i.connection_id = c.id)
ORDER BY c.project_id, c.create_time, c.id;
