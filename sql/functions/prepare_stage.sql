-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- (Re)creates pg_temp.ampsync_stage for rows of p_table: a column `change` ('insert',
-- 'update', 'restore' or 'touch'), then p_columns, columns of p_table with its types,
-- in the order given (the order of the COPY lines ampsync writes).
CREATE OR REPLACE FUNCTION ampersand.prepare_stage(p_table text, p_columns text[]) RETURNS void
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

COMMENT ON FUNCTION ampersand.prepare_stage(text, text[]) IS 'Used by ampsync only: creates the temporary table ampsync_stage for rows of a synced table, with the given columns.';
