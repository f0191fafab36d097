-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

CREATE OR REPLACE FUNCTION ampersand.key_columns(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
    WHERE i.indrelid = ampersand.synced_table(p_table) AND i.indisprimary
$$;

COMMENT ON FUNCTION ampersand.key_columns(text) IS 'Internal: the primary-key column names of a synced table.';
