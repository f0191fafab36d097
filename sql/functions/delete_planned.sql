-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Soft-deletes the rows of p_table the plan deletes: closes their open versions at
-- p_observed, sets deleted_at, and opens 'delete' tombstones.
CREATE OR REPLACE FUNCTION ampersand.delete_planned(p_table text, p_run bigint, p_observed timestamptz) RETURNS void
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

COMMENT ON FUNCTION ampersand.delete_planned(text, bigint, timestamptz) IS 'Used by ampsync only: soft-deletes the rows the plan deletes and writes their delete tombstones.';
