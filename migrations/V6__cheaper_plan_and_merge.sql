-- Cheaper runs (issue 5): a merge without upserts, and a snapshot index partitioned by
-- table (at the end).
--
-- The merge. The plan already knows which staged rows are new and which
-- exist, so merge_stage no longer upserts: new rows go in with two plain INSERT ...
-- SELECTs (current table, then the first history version), read straight from the
-- stage; changed and restored rows with one UPDATE ... FROM the stage whose RETURNING
-- feeds their history versions. That drops the speculative insertion of ON CONFLICT
-- and, for a full sync, the materialized copy of every written row (which spilled to
-- disk at 100,000 configs). See README, Performance.
--
-- What is written is the same as before: current rows keep first_seen_at on update;
-- a restored row gets an 'insert' version, a changed one an 'update' version; columns
-- the stage lacks take the current table's default on insert and keep their value on
-- update (RETURNING gives the history the row as stored).
CREATE OR REPLACE FUNCTION ampersand.merge_stage(p_table text, p_run bigint, p_observed timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    keys        text[] := ampersand.key_columns(p_table);
    staged      text[];
    inserted    text;
    set_list    text;
    touched     text;
    all_cols    text;
    returned    text;
BEGIN
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO staged
    FROM pg_attribute AS a
    WHERE a.attrelid = 'pg_temp.ampsync_stage'::regclass AND a.attnum > 0
      AND NOT a.attisdropped AND a.attname <> 'change';
    SELECT string_agg(format('%1$I = s.%1$I', c), ', ') FILTER (WHERE c <> ALL (keys))
    INTO touched
    FROM unnest(staged) AS c;
    set_list := concat_ws(', ', touched, 'changed_at = $2', 'deleted_at = NULL', 'sync_run_id = $1');

    -- Every column of the table, and what a new row holds in it: the staged value, the
    -- run's bookkeeping, or the column's default.
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           string_agg(CASE WHEN a.attname = ANY (staged) THEN format('s.%I', a.attname)
                           WHEN a.attname IN ('first_seen_at', 'changed_at') THEN '$2'
                           WHEN a.attname = 'sync_run_id' THEN '$1'
                           ELSE coalesce(pg_get_expr(d.adbin, d.adrelid), 'NULL') END,
                      ', ' ORDER BY a.attnum),
           string_agg(format('w.%I', a.attname), ', ' ORDER BY a.attnum)
    INTO all_cols, inserted, returned
    FROM pg_attribute AS a
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = ampersand.synced_table(p_table) AND a.attnum > 0 AND NOT a.attisdropped;
    -- What each statement below selects from the stage, for the planner.
    ANALYZE pg_temp.ampsync_stage (change);

    -- New rows: the current row and its first version, from the stage alone.
    EXECUTE format($sql$
        INSERT INTO %1$s (%2$s) SELECT %3$s FROM pg_temp.ampsync_stage AS s WHERE s.change = 'insert'
    $sql$, ampersand.synced_table(p_table), all_cols, inserted)
    USING p_run, p_observed;
    EXECUTE format($sql$
        INSERT INTO ampersand.%1$I (%2$s, valid_from, valid_to, change)
        SELECT %3$s, $2, NULL, 'insert' FROM pg_temp.ampsync_stage AS s WHERE s.change = 'insert'
    $sql$, p_table || '_history', all_cols, inserted)
    USING p_run, p_observed;

    -- Close first, in its own statement: the open-version index allows one open
    -- version per key, and a single statement gives no order between its parts.
    EXECUTE format($sql$
        UPDATE ampersand.%I AS h SET valid_to = $1
        FROM pg_temp.ampsync_stage AS s
        WHERE %s AND h.valid_to IS NULL AND s.change IN ('update', 'restore')
    $sql$, p_table || '_history', ampersand.key_match(p_table, 'h', 's'))
    USING p_observed;

    -- Changed and restored rows: updated in place (first_seen_at kept), then versioned.
    EXECUTE format($sql$
        WITH written AS (
            UPDATE %1$s AS t SET %2$s
            FROM pg_temp.ampsync_stage AS s
            WHERE %3$s AND s.change IN ('update', 'restore')
            RETURNING t.*, s.change AS staged_change
        )
        INSERT INTO ampersand.%4$I (%5$s, valid_from, valid_to, change)
        SELECT %6$s, $2, NULL, CASE w.staged_change WHEN 'update' THEN 'update' ELSE 'insert' END
        FROM written AS w
    $sql$, ampersand.synced_table(p_table), set_list, ampersand.key_match(p_table, 't', 's'),
           p_table || '_history', all_cols, returned)
    USING p_run, p_observed;

    -- Token times alone moved: the current row in place, no version.
    EXECUTE format($sql$
        UPDATE %1$s AS t SET %2$s
        FROM pg_temp.ampsync_stage AS s
        WHERE %3$s AND s.change = 'touch' AND t.deleted_at IS NULL
    $sql$, ampersand.synced_table(p_table), touched, ampersand.key_match(p_table, 't', 's'));
END $$;

COMMENT ON FUNCTION ampersand.merge_stage(text, bigint, timestamptz) IS 'Used by ampsync only: writes the staged rows of a synced table (new rows inserted, changed and restored rows updated, each with a history version at the observed time; token-time changes in place).';

-- The snapshot's index is partitioned by table: each planning statement
-- (sql/state/*.sql) and each count of disagreeing copies reads its own table's rows
-- instead of scanning every row of the snapshot, eight tables over. And the run's
-- transaction plans for cached pages (random_page_cost).
CREATE OR REPLACE FUNCTION ampersand.begin_plan() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    -- Planning sorts and hashes every key of the snapshot: give it room in memory for
    -- the rest of the transaction, rather than spilling to disk.
    IF pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024 THEN
        PERFORM set_config('work_mem', '64MB', true);
    END IF;
    -- The tables' pages are mostly cached: the few thousand rows a run changes or
    -- deletes are found faster through the key's index than by hashing every row of
    -- the table, which the default random_page_cost (4, for spinning disks) would have
    -- the planner do. For the rest of the transaction, like work_mem.
    PERFORM set_config('random_page_cost', '1.1', true);
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
    ) PARTITION BY LIST (tbl);
    FOREACH t IN ARRAY ARRAY['projects', 'integrations', 'groups', 'consumers',
                             'provider_apps', 'connections', 'configs', 'installations'] LOOP
        EXECUTE format('CREATE TEMP TABLE %I PARTITION OF pg_temp.ampsync_snapshot FOR VALUES IN (%L)',
                       'ampsync_snapshot_' || t, t);
    END LOOP;
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

COMMENT ON FUNCTION ampersand.begin_plan() IS 'Used by ampsync only: creates (or empties) the run''s temporary tables ampsync_snapshot (the snapshot''s index, partitioned by table) and ampsync_plan (what to write).';
