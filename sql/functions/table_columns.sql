-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Columns of a synced table in table order, and its primary-key columns.
CREATE OR REPLACE FUNCTION ampersand.table_columns(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_attribute a
    WHERE a.attrelid = ampersand.synced_table(p_table) AND a.attnum > 0 AND NOT a.attisdropped
$$;

COMMENT ON FUNCTION ampersand.table_columns(text) IS 'Internal: the column names of a synced table, in table order.';
