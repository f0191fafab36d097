-- The set-based write path (issue 5). A run loads its snapshot's index into a temporary
-- table, lets Postgres pick each key's winning copy and compare it with what is stored
-- (sql/state/*.sql fill pg_temp.ampsync_plan), COPYs only the rows to write into a
-- temporary staging table, and merges each table with a few set-based statements.
-- Temporary tables are private to the run's session and never WAL-logged.
--
-- The functions of V2 (write_versions, touch_rows, delete_versions) stay for callers
-- that use them; ampsync itself no longer does.

-- What a run applied, so that the next run can tell at once that its snapshot is the
-- same (the common case for a job that runs every few minutes) and skip the comparison.
ALTER TABLE ampersand.sync_runs ADD COLUMN snapshot jsonb;
COMMENT ON COLUMN ampersand.sync_runs.snapshot IS 'Fingerprint of the snapshot the run applied ({"digest", "keys": rows per table}); a later run whose snapshot has the same digest skips comparing it row by row.';

-- (Re)creates the run's scratch tables, empty: the snapshot's index (one row per row
-- copy the snapshot holds) and the plan (what to write, per table). Raises work_mem to
-- 64MB for the rest of the transaction.
CREATE FUNCTION ampersand.begin_plan() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Planning sorts and hashes every key of the snapshot: give it room in memory for
    -- the rest of the transaction, rather than spilling to disk.
    IF pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024 THEN
        PERFORM set_config('work_mem', '64MB', true);
    END IF;
    IF to_regclass('pg_temp.ampsync_snapshot') IS NOT NULL THEN
        TRUNCATE pg_temp.ampsync_snapshot, pg_temp.ampsync_plan;
        RETURN;
    END IF;
    CREATE TEMP TABLE ampsync_snapshot (
        tbl          text NOT NULL,
        k1           text NOT NULL,
        k2           text,
        content_hash text NOT NULL,
        row_hash     text NOT NULL,
        update_ns    bigint,
        pos          bigint NOT NULL,
        len          integer NOT NULL
    );
    CREATE TEMP TABLE ampsync_plan (
        tbl    text NOT NULL,
        change text NOT NULL,
        pos    bigint,
        len    integer,
        k1     text,
        k2     text
    );
    CREATE INDEX ON pg_temp.ampsync_plan (tbl, pos);
END $$;

-- (Re)creates pg_temp.ampsync_stage for rows of p_table: a column `change` ('insert',
-- 'update', 'restore' or 'touch'), then p_columns, columns of p_table with its types,
-- in the order given (the order of the COPY lines ampsync writes).
CREATE FUNCTION ampersand.prepare_stage(p_table text, p_columns text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    SELECT string_agg(c, ', ') INTO unknown
    FROM unnest(p_columns) AS c WHERE c <> ALL (ampersand.table_columns(p_table));
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'ampersand: % has no columns %', p_table, unknown;
    END IF;
    IF to_regclass('pg_temp.ampsync_stage') IS NOT NULL THEN
        DROP TABLE pg_temp.ampsync_stage;
    END IF;
    EXECUTE format('CREATE TEMP TABLE ampsync_stage AS SELECT NULL::text AS change, %s FROM %s WITH NO DATA',
                   (SELECT string_agg(format('%I', c), ', ' ORDER BY n)
                    FROM unnest(p_columns) WITH ORDINALITY AS k(c, n)),
                   ampersand.synced_table(p_table));
END $$;

-- Writes the staged rows of p_table: closes the open versions of updated and restored
-- rows at p_observed, upserts inserted, restored and updated rows (keeping
-- first_seen_at) and opens their new versions ('insert' for new and restored rows,
-- 'update' for changed ones), and updates touched rows in place without a version.
CREATE FUNCTION ampersand.merge_stage(p_table text, p_run bigint, p_observed timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    keys     text[] := ampersand.key_columns(p_table);
    staged   text;
    set_list text;
    touched  text;
    all_cols text;
    returned text;
BEGIN
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('%1$I = EXCLUDED.%1$I', a.attname), ', ' ORDER BY a.attnum)
               FILTER (WHERE a.attname <> ALL (keys)),
           string_agg(format('%1$I = s.%1$I', a.attname), ', ' ORDER BY a.attnum)
               FILTER (WHERE a.attname <> ALL (keys))
    INTO staged, set_list, touched
    FROM pg_attribute AS a
    WHERE a.attrelid = 'pg_temp.ampsync_stage'::regclass AND a.attnum > 0
      AND NOT a.attisdropped AND a.attname <> 'change';
    SELECT string_agg(format('%I', c), ', '), string_agg(format('w.%I', c), ', ')
    INTO all_cols, returned
    FROM unnest(ampersand.table_columns(p_table)) AS c;
    -- What each statement below selects from the stage, for the planner.
    ANALYZE pg_temp.ampsync_stage (change);

    -- Close first, in its own statement: the open-version index allows one open
    -- version per key, and a single statement gives no order between its parts.
    EXECUTE format($sql$
        UPDATE ampersand.%I AS h SET valid_to = $1
        FROM pg_temp.ampsync_stage AS s
        WHERE %s AND h.valid_to IS NULL AND s.change IN ('update', 'restore')
    $sql$, p_table || '_history', ampersand.key_match(p_table, 'h', 's'))
    USING p_observed;

    EXECUTE format($sql$
        WITH written AS (
            INSERT INTO %1$s AS t (%3$s, first_seen_at, changed_at, deleted_at, sync_run_id)
            SELECT %3$s, $2, $2, NULL, $1 FROM pg_temp.ampsync_stage WHERE change = ANY ($3)
            ON CONFLICT (%4$s) DO UPDATE
            SET %5$s, changed_at = EXCLUDED.changed_at, deleted_at = NULL,
                sync_run_id = EXCLUDED.sync_run_id
            RETURNING t.*
        )
        INSERT INTO ampersand.%2$I (%6$s, valid_from, valid_to, change)
        SELECT %7$s, $2, NULL, $4 FROM written AS w
    $sql$, ampersand.synced_table(p_table), p_table || '_history', staged,
           (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) AS k),
           set_list, all_cols, returned)
    USING p_run, p_observed, ARRAY['insert', 'restore'], 'insert';

    EXECUTE format($sql$
        WITH written AS (
            INSERT INTO %1$s AS t (%3$s, first_seen_at, changed_at, deleted_at, sync_run_id)
            SELECT %3$s, $2, $2, NULL, $1 FROM pg_temp.ampsync_stage WHERE change = ANY ($3)
            ON CONFLICT (%4$s) DO UPDATE
            SET %5$s, changed_at = EXCLUDED.changed_at, deleted_at = NULL,
                sync_run_id = EXCLUDED.sync_run_id
            RETURNING t.*
        )
        INSERT INTO ampersand.%2$I (%6$s, valid_from, valid_to, change)
        SELECT %7$s, $2, NULL, $4 FROM written AS w
    $sql$, ampersand.synced_table(p_table), p_table || '_history', staged,
           (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) AS k),
           set_list, all_cols, returned)
    USING p_run, p_observed, ARRAY['update'], 'update';

    EXECUTE format($sql$
        UPDATE %1$s AS t SET %2$s
        FROM pg_temp.ampsync_stage AS s
        WHERE %3$s AND s.change = 'touch' AND t.deleted_at IS NULL
    $sql$, ampersand.synced_table(p_table), touched, ampersand.key_match(p_table, 't', 's'));
END $$;

-- Soft-deletes the rows of p_table the plan deletes: closes their open versions at
-- p_observed, sets deleted_at, and opens 'delete' tombstones.
CREATE FUNCTION ampersand.delete_planned(p_table text, p_run bigint, p_observed timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    match_h  text;
    match_t  text;
    all_cols text;
BEGIN
    SELECT string_agg(format('h.%I = d.k%s', c, n), ' AND '),
           string_agg(format('t.%I = d.k%s', c, n), ' AND ')
    INTO match_h, match_t
    FROM unnest(ampersand.key_columns(p_table)) WITH ORDINALITY AS k(c, n);
    SELECT string_agg(format('%I', c), ', ') INTO all_cols
    FROM unnest(ampersand.table_columns(p_table)) AS c;

    EXECUTE format($sql$
        UPDATE ampersand.%I AS h SET valid_to = $1
        FROM pg_temp.ampsync_plan AS d
        WHERE d.tbl = $2 AND d.change = 'delete' AND %s AND h.valid_to IS NULL
    $sql$, p_table || '_history', match_h)
    USING p_observed, p_table;

    EXECUTE format($sql$
        WITH deleted AS (
            UPDATE %1$s AS t SET deleted_at = $2, changed_at = $2, sync_run_id = $1
            FROM pg_temp.ampsync_plan AS d
            WHERE d.tbl = $3 AND d.change = 'delete' AND %3$s AND t.deleted_at IS NULL
            RETURNING t.*
        )
        INSERT INTO ampersand.%2$I (%4$s, valid_from, valid_to, change)
        SELECT %4$s, $2, NULL, 'delete' FROM deleted
    $sql$, ampersand.synced_table(p_table), p_table || '_history', match_t, all_cols)
    USING p_run, p_observed, p_table;
END $$;

COMMENT ON FUNCTION ampersand.begin_plan() IS 'Used by ampsync only: creates (or empties) the run''s temporary tables ampsync_snapshot (the snapshot''s index) and ampsync_plan (what to write).';
COMMENT ON FUNCTION ampersand.prepare_stage(text, text[]) IS 'Used by ampsync only: creates the temporary table ampsync_stage for rows of a synced table, with the given columns.';
COMMENT ON FUNCTION ampersand.merge_stage(text, bigint, timestamptz) IS 'Used by ampsync only: writes the staged rows of a synced table (upserts with history versions at the observed time; token-time changes in place).';
COMMENT ON FUNCTION ampersand.delete_planned(text, bigint, timestamptz) IS 'Used by ampsync only: soft-deletes the rows the plan deletes and writes their delete tombstones.';
