-- Reading history: T_as_of(ts) for every table, and the change_log view.

-- Names of the columns whose values differ between two versions of a row, leaving out
-- the bookkeeping columns that change with every version.
CREATE FUNCTION ampersand.changed_columns(p_new jsonb, p_old jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(n.key ORDER BY n.key), '{}')
    FROM jsonb_each(p_new) AS n
    WHERE n.value IS DISTINCT FROM p_old -> n.key
      AND n.key NOT IN ('content_hash', 'row_hash', 'first_seen_at', 'changed_at', 'deleted_at',
                        'sync_run_id', 'valid_from', 'valid_to', 'change')
$$;

-- The rows of projects as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.projects_as_of(p_at timestamptz) RETURNS SETOF ampersand.projects_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.projects_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of integrations as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.integrations_as_of(p_at timestamptz) RETURNS SETOF ampersand.integrations_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.integrations_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of groups as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.groups_as_of(p_at timestamptz) RETURNS SETOF ampersand.groups_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.groups_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of consumers as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.consumers_as_of(p_at timestamptz) RETURNS SETOF ampersand.consumers_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.consumers_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of provider_apps as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.provider_apps_as_of(p_at timestamptz) RETURNS SETOF ampersand.provider_apps_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.provider_apps_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of connections as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.connections_as_of(p_at timestamptz) RETURNS SETOF ampersand.connections_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.connections_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of configs as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.configs_as_of(p_at timestamptz) RETURNS SETOF ampersand.configs_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.configs_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- The rows of installations as they were at p_at (tombstones excluded).
CREATE FUNCTION ampersand.installations_as_of(p_at timestamptz) RETURNS SETOF ampersand.installations_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.installations_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- Every change to every synced table: what, which key, when (the snapshot's observed
-- time), by which run and, for an update, which columns changed.
CREATE VIEW ampersand.change_log AS
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
    LEFT JOIN ampersand.installations_history AS p ON h.change = 'update' AND p.id = h.id AND p.valid_to = h.valid_from;
