-- History: every table T has T_history with T's columns plus valid_from, valid_to and
-- change. A version is open while valid_to is null; a 'delete' version is a tombstone.
-- Versions are written only through the functions below, which the job calls with the
-- snapshot's observed time, so all versions written by one run share that time.
-- A migration that adds a column to T must add it to T_history too.

CREATE TABLE ampersand.projects_history (
    LIKE ampersand.projects,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX projects_history_open_idx ON ampersand.projects_history (id) WHERE valid_to IS NULL;
CREATE INDEX projects_history_valid_idx ON ampersand.projects_history (valid_from, valid_to);

CREATE TABLE ampersand.integrations_history (
    LIKE ampersand.integrations,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX integrations_history_open_idx ON ampersand.integrations_history (id) WHERE valid_to IS NULL;
CREATE INDEX integrations_history_valid_idx ON ampersand.integrations_history (valid_from, valid_to);

CREATE TABLE ampersand.groups_history (
    LIKE ampersand.groups,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (project_id, group_ref, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX groups_history_open_idx ON ampersand.groups_history (project_id, group_ref) WHERE valid_to IS NULL;
CREATE INDEX groups_history_valid_idx ON ampersand.groups_history (valid_from, valid_to);

CREATE TABLE ampersand.consumers_history (
    LIKE ampersand.consumers,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (project_id, consumer_ref, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX consumers_history_open_idx ON ampersand.consumers_history (project_id, consumer_ref) WHERE valid_to IS NULL;
CREATE INDEX consumers_history_valid_idx ON ampersand.consumers_history (valid_from, valid_to);

CREATE TABLE ampersand.provider_apps_history (
    LIKE ampersand.provider_apps,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX provider_apps_history_open_idx ON ampersand.provider_apps_history (id) WHERE valid_to IS NULL;
CREATE INDEX provider_apps_history_valid_idx ON ampersand.provider_apps_history (valid_from, valid_to);

CREATE TABLE ampersand.connections_history (
    LIKE ampersand.connections,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX connections_history_open_idx ON ampersand.connections_history (id) WHERE valid_to IS NULL;
CREATE INDEX connections_history_valid_idx ON ampersand.connections_history (valid_from, valid_to);

CREATE TABLE ampersand.configs_history (
    LIKE ampersand.configs,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX configs_history_open_idx ON ampersand.configs_history (id) WHERE valid_to IS NULL;
CREATE INDEX configs_history_valid_idx ON ampersand.configs_history (valid_from, valid_to);

CREATE TABLE ampersand.installations_history (
    LIKE ampersand.installations,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX installations_history_open_idx ON ampersand.installations_history (id) WHERE valid_to IS NULL;
CREATE INDEX installations_history_valid_idx ON ampersand.installations_history (valid_from, valid_to);

-- The tables the functions below accept: their names reach dynamic SQL only after this check.
CREATE FUNCTION ampersand.synced_table(p_table text) RETURNS regclass
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_table NOT IN ('projects', 'integrations', 'groups', 'consumers',
                       'provider_apps', 'connections', 'configs', 'installations') THEN
        RAISE EXCEPTION 'ampersand: % is not a synced table', p_table;
    END IF;
    RETURN format('ampersand.%I', p_table)::regclass;
END $$;

-- Columns of a synced table in table order, and its primary-key columns.
CREATE FUNCTION ampersand.table_columns(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_attribute a
    WHERE a.attrelid = ampersand.synced_table(p_table) AND a.attnum > 0 AND NOT a.attisdropped
$$;

CREATE FUNCTION ampersand.key_columns(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
    WHERE i.indrelid = ampersand.synced_table(p_table) AND i.indisprimary
$$;

-- "t.a = (i.r).a AND t.b = (i.r).b" for the key columns of a table.
CREATE FUNCTION ampersand.key_match(p_table text, p_left text, p_right text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT string_agg(format('%1$s.%3$I = %2$s.%3$I', p_left, p_right, c), ' AND ')
    FROM unnest(ampersand.key_columns(p_table)) AS c
$$;

-- Writes new versions: p_rows is a JSON array of full rows of p_table, each with a
-- "_change" of 'insert', 'update' or 'restore'. The current row is upserted (keeping
-- first_seen_at), the open history version is closed at p_observed and a new one opened.
-- Returns the number of versions written.
CREATE FUNCTION ampersand.write_versions(p_table text, p_run bigint, p_observed timestamptz, p_rows jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cols     text[] := ampersand.table_columns(p_table);
    col_list text;
    set_list text;
    written  bigint;
BEGIN
    SELECT string_agg(format('%I', c), ', ') INTO col_list FROM unnest(cols) AS c;
    SELECT string_agg(format('%1$I = EXCLUDED.%1$I', c), ', ') INTO set_list
    FROM unnest(cols) AS c
    WHERE c <> ALL (ampersand.key_columns(p_table)) AND c <> 'first_seen_at';

    -- Close first, in its own statement: the open-version index allows one open
    -- version per key, and a single statement gives no order between its parts.
    EXECUTE format($sql$
        UPDATE ampersand.%1$I AS h SET valid_to = $1
        FROM (SELECT jsonb_populate_record(NULL::ampersand.%2$I, e) AS r
              FROM jsonb_array_elements($2) AS e) AS i
        WHERE %3$s AND h.valid_to IS NULL
    $sql$, p_table || '_history', p_table, ampersand.key_match(p_table, 'h', '(i.r)'))
    USING p_observed, p_rows;

    EXECUTE format($sql$
        WITH incoming AS (
            SELECT e->>'_change' AS change,
                   jsonb_populate_record(NULL::ampersand.%1$I,
                       e || jsonb_build_object('first_seen_at', $2, 'changed_at', $2,
                                               'deleted_at', NULL, 'sync_run_id', $1)) AS r
            FROM jsonb_array_elements($3) AS e
        ), written AS (
            INSERT INTO ampersand.%1$I AS t (%3$s)
            SELECT (r).* FROM incoming
            ON CONFLICT (%4$s) DO UPDATE SET %5$s
            RETURNING t.*
        )
        INSERT INTO ampersand.%2$I (%3$s, valid_from, valid_to, change)
        SELECT w.*, $2, NULL, CASE i.change WHEN 'update' THEN 'update' ELSE 'insert' END
        FROM written AS w JOIN incoming AS i ON %6$s
    $sql$, p_table, p_table || '_history', col_list,
           array_to_string(ampersand.key_columns(p_table), ', '), set_list,
           ampersand.key_match(p_table, 'w', '(i.r)'))
    USING p_run, p_observed, p_rows;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;

-- Updates current rows in place without a version: for changes that touch only
-- columns that move on their own (token issued/expiry times). Returns rows updated.
CREATE FUNCTION ampersand.touch_rows(p_table text, p_rows jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    set_list text;
    touched  bigint;
BEGIN
    SELECT string_agg(format('%1$I = (i.r).%1$I', c), ', ') INTO set_list
    FROM unnest(ampersand.table_columns(p_table)) AS c
    WHERE c <> ALL (ampersand.key_columns(p_table))
      AND c NOT IN ('first_seen_at', 'changed_at', 'deleted_at', 'sync_run_id');
    EXECUTE format($sql$
        UPDATE ampersand.%1$I AS t SET %2$s
        FROM (SELECT jsonb_populate_record(NULL::ampersand.%1$I, e) AS r
              FROM jsonb_array_elements($1) AS e) AS i
        WHERE %3$s AND t.deleted_at IS NULL
    $sql$, p_table, set_list, ampersand.key_match(p_table, 't', '(i.r)'))
    USING p_rows;
    GET DIAGNOSTICS touched = ROW_COUNT;
    RETURN touched;
END $$;

-- Soft-deletes live rows: p_keys is a JSON array of objects holding key columns.
-- Closes the open version and opens a 'delete' tombstone. Returns rows deleted.
CREATE FUNCTION ampersand.delete_versions(p_table text, p_run bigint, p_observed timestamptz, p_keys jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    deleted bigint;
BEGIN
    EXECUTE format($sql$
        UPDATE ampersand.%1$I AS h SET valid_to = $1
        FROM (SELECT jsonb_populate_record(NULL::ampersand.%2$I, e) AS r
              FROM jsonb_array_elements($2) AS e) AS i
        WHERE %3$s AND h.valid_to IS NULL
    $sql$, p_table || '_history', p_table, ampersand.key_match(p_table, 'h', '(i.r)'))
    USING p_observed, p_keys;

    EXECUTE format($sql$
        WITH deleted AS (
            UPDATE ampersand.%1$I AS t SET deleted_at = $2, changed_at = $2, sync_run_id = $1
            FROM (SELECT jsonb_populate_record(NULL::ampersand.%1$I, e) AS r
                  FROM jsonb_array_elements($3) AS e) AS i
            WHERE %3$s AND t.deleted_at IS NULL
            RETURNING t.*
        )
        INSERT INTO ampersand.%2$I (%4$s, valid_from, valid_to, change)
        SELECT d.*, $2, NULL, 'delete' FROM deleted AS d
    $sql$, p_table, p_table || '_history', ampersand.key_match(p_table, 't', '(i.r)'),
           (SELECT string_agg(format('%I', c), ', ') FROM unnest(ampersand.table_columns(p_table)) AS c))
    USING p_run, p_observed, p_keys;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END $$;
