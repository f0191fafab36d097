-- Config changes in the last days, from change_log: configs added, changed or removed,
-- with the installation they belong to and, for a change, the read objects whose
-- settings differ from the previous version.
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/config_changes.sql
-- Example: psql "$DATABASE_URL" -v at=2026-11-10T00:00:00Z -v days=7 -f sql/queries/config_changes.sql
-- Parameters (psql variables):
--   at     the end of the period (default: now)
--   days   the period's length in days (default: 30)
-- In a BI tool, replace :'at' and :'days' with literals, e.g. now() and 30.
--
-- Columns:
--   changed_at            observed time of the snapshot that showed the change
--   change                insert (new config), update, or delete (config gone)
--   config_id             the config
--   installation_id       the installation it belongs to
--   integration_name      the integration installed
--   group_name            the group it is installed for
--   changed_columns       for an update: the config columns that changed
--   read_objects_changed  for an update: the read objects added, removed or changed
--   sync_run_id           the run that recorded it
\if :{?at}
\else
\set at now
\endif
\if :{?days}
\else
\set days 30
\endif
SELECT l.changed_at,
       l.change,
       l.key AS config_id,
       h.installation_id,
       ig.name AS integration_name,
       coalesce(g.group_name, i.group_ref) AS group_name,
       l.changed_columns,
       CASE WHEN l.change = 'update' THEN ARRAY(
           SELECT o.name
           FROM (SELECT jsonb_object_keys(CASE jsonb_typeof(h.content #> '{read,objects}')
                                              WHEN 'object' THEN h.content #> '{read,objects}'
                                              ELSE '{}'::jsonb END)
                 UNION
                 SELECT jsonb_object_keys(CASE jsonb_typeof(p.content #> '{read,objects}')
                                              WHEN 'object' THEN p.content #> '{read,objects}'
                                              ELSE '{}'::jsonb END)) AS o(name)
           WHERE h.content #> ARRAY['read', 'objects', o.name]
                 IS DISTINCT FROM p.content #> ARRAY['read', 'objects', o.name]
           ORDER BY o.name)
       END AS read_objects_changed,
       l.sync_run_id
FROM ampersand.change_log AS l
JOIN ampersand.configs_history AS h ON h.id = l.key AND h.valid_from = l.changed_at
LEFT JOIN ampersand.configs_history AS p
       ON l.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
LEFT JOIN ampersand.installations AS i ON i.id = h.installation_id
LEFT JOIN ampersand.integrations AS ig ON ig.id = i.integration_id
LEFT JOIN ampersand.groups AS g ON g.project_id = i.project_id AND g.group_ref = i.group_ref
WHERE l.table_name = 'configs'
  AND l.changed_at > :'at'::timestamptz - make_interval(days => :'days'::int)
  AND l.changed_at <= :'at'::timestamptz
ORDER BY l.changed_at DESC, l.change DESC, integration_name, group_name, config_id;
