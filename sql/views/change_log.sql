-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Every change to every synced table: what, which key, when (the snapshot's observed
-- time), by which run and, for an update, which columns changed.
SELECT ampersand.replace_view('change_log', $view$
    SELECT 'projects'::text AS table_name, h.id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.projects_history AS h
    LEFT JOIN ampersand.projects_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'integrations'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.integrations_history AS h
    LEFT JOIN ampersand.integrations_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'groups'::text AS table_name, h.project_id AS project_id, h.group_ref AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.groups_history AS h
    LEFT JOIN ampersand.groups_history AS p ON h.change = 'update' AND p.project_id = h.project_id AND p.group_ref = h.group_ref AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'consumers'::text AS table_name, h.project_id AS project_id, h.consumer_ref AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.consumers_history AS h
    LEFT JOIN ampersand.consumers_history AS p ON h.change = 'update' AND p.project_id = h.project_id AND p.consumer_ref = h.consumer_ref AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'provider_apps'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.provider_apps_history AS h
    LEFT JOIN ampersand.provider_apps_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'connections'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.connections_history AS h
    LEFT JOIN ampersand.connections_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'configs'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.configs_history AS h
    LEFT JOIN ampersand.configs_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'installations'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.installations_history AS h
    LEFT JOIN ampersand.installations_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from
UNION ALL
    SELECT 'operations'::text AS table_name, h.project_id AS project_id, h.id AS key, h.change,
           h.valid_from AS changed_at, h.sync_run_id,
           CASE WHEN h.change = 'update' THEN ampersand.changed_columns(to_jsonb(h), to_jsonb(p)) END
               AS changed_columns
    FROM ampersand.operations_history AS h
    LEFT JOIN ampersand.operations_history AS p ON h.change = 'update' AND p.project_id = h.project_id AND p.id = h.id AND p.valid_to = h.valid_from
$view$);

COMMENT ON VIEW ampersand.change_log IS
    'Every change to every synced table, newest versions included: which table and key, insert/update/delete, when (the snapshot''s observed time) and by which run; for an update, the columns that changed.';
COMMENT ON COLUMN ampersand.change_log.table_name IS 'The table that changed (projects, integrations, groups, consumers, provider_apps, connections, configs, installations, operations).';
COMMENT ON COLUMN ampersand.change_log.project_id IS 'Project of the changed row.';
COMMENT ON COLUMN ampersand.change_log.key IS 'Key of the changed row: its id, or group_ref / consumer_ref for groups and consumers.';
COMMENT ON COLUMN ampersand.change_log.change IS 'insert (new, or back after a delete), update, or delete (gone from the source).';
COMMENT ON COLUMN ampersand.change_log.changed_at IS 'Observed time of the snapshot that showed the change (sync_runs.observed_at).';
COMMENT ON COLUMN ampersand.change_log.sync_run_id IS 'The run that recorded the change (sync_runs.id).';
COMMENT ON COLUMN ampersand.change_log.changed_columns IS 'For an update: names of the columns whose values changed; null otherwise.';
