-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Writes the staged rows of a synced table. The plan already knows which staged rows
-- are new and which exist, so there is no upsert: new rows go in with two plain INSERT ...
-- SELECTs (current table, then the first history version), read straight from the
-- stage; changed and restored rows with one UPDATE ... FROM the stage whose RETURNING
-- feeds their history versions. That drops the speculative insertion of ON CONFLICT
-- and, for a full sync, the materialized copy of every written row (which spilled to
-- disk at 100,000 configs). See README, Performance.
--
-- What is written is the same as before: current rows keep first_seen_at on update;
-- a restored row gets an 'insert' version, a changed one an 'update' version; columns
-- the stage lacks take the current table's default on insert and keep their value on
-- update (RETURNING gives the history the row as stored). 'touch' rows (token times
-- alone moved) and 'rehash' rows (unchanged, stored with an earlier release's hashes)
-- are updated in place: no version, no changed_at.
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

    -- Token times alone moved, or only the hashes: the current row in place, no version.
    EXECUTE format($sql$
        UPDATE %1$s AS t SET %2$s
        FROM pg_temp.ampsync_stage AS s
        WHERE %3$s AND s.change IN ('touch', 'rehash') AND t.deleted_at IS NULL
    $sql$, ampersand.synced_table(p_table), touched, ampersand.key_match(p_table, 't', 's'));
END $$;

COMMENT ON FUNCTION ampersand.merge_stage(text, bigint, timestamptz) IS 'Used by ampsync only: writes the staged rows of a synced table (new rows inserted, changed and restored rows updated, each with a history version at the observed time; token-time changes and rehashes in place).';
