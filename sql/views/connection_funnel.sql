-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Per day, provider and group: the live connections, those that a live installation
-- uses, and those that none does (connected but not installed), as the day's last
-- applied snapshot (a succeeded run) had them. From the history, so the funnel reads
-- back in time; days are UTC dates. Before ampsync read the lists, only installations
-- showed connections.
SELECT ampersand.replace_view('connection_funnel', $view$
WITH days AS (
    SELECT project AS project_id, (observed_at AT TIME ZONE 'UTC')::date AS day,
           max(observed_at) AS observed_at
    FROM ampersand.sync_runs
    WHERE status = 'succeeded' AND NOT dry_run
    GROUP BY 1, 2
), live AS (
    SELECT d.project_id, d.day, d.observed_at, c.provider, c.group_ref,
           EXISTS (SELECT 1 FROM ampersand.installations_history AS i
                   WHERE i.connection_id = c.id AND i.project_id = d.project_id
                     AND i.change <> 'delete' AND i.valid_from <= d.observed_at
                     AND (i.valid_to IS NULL OR i.valid_to > d.observed_at)) AS installed
    FROM days AS d
    JOIN ampersand.connections_history AS c
      ON c.project_id = d.project_id AND c.change <> 'delete'
     AND c.valid_from <= d.observed_at
     AND (c.valid_to IS NULL OR c.valid_to > d.observed_at)
)
SELECT l.project_id,
       l.day,
       l.observed_at,
       l.provider,
       l.group_ref,
       g.group_name,
       count(*)                                AS connections,
       count(*) FILTER (WHERE l.installed)     AS installed,
       count(*) FILTER (WHERE NOT l.installed) AS connected_not_installed
FROM live AS l
LEFT JOIN ampersand.groups AS g ON g.project_id = l.project_id AND g.group_ref = l.group_ref
GROUP BY l.project_id, l.day, l.observed_at, l.provider, l.group_ref, g.group_name
$view$);

COMMENT ON VIEW ampersand.connection_funnel IS
    'The integration funnel over time: per day (UTC), provider and group, the live connections, those a live installation uses, and those none does (connected but not installed), as the day''s last applied snapshot had them. From the history.';
COMMENT ON COLUMN ampersand.connection_funnel.project_id IS 'Project id.';
COMMENT ON COLUMN ampersand.connection_funnel.day IS 'The day (UTC date) the counts are for.';
COMMENT ON COLUMN ampersand.connection_funnel.observed_at IS 'Observed time of the day''s last applied snapshot (a succeeded run): the counts are as they were then.';
COMMENT ON COLUMN ampersand.connection_funnel.provider IS 'Provider of the connections.';
COMMENT ON COLUMN ampersand.connection_funnel.group_ref IS 'Group the connections belong to.';
COMMENT ON COLUMN ampersand.connection_funnel.group_name IS 'Group display name, as it is now.';
COMMENT ON COLUMN ampersand.connection_funnel.connections IS 'Live connections of the provider and group at observed_at.';
COMMENT ON COLUMN ampersand.connection_funnel.installed IS 'Of those, connections a live installation used at observed_at.';
COMMENT ON COLUMN ampersand.connection_funnel.connected_not_installed IS 'Of those, connections no live installation used at observed_at: the customer connected but never installed (or uninstalled).';
