-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- "t.a = (i.r).a AND t.b = (i.r).b" for the key columns of a table.
CREATE OR REPLACE FUNCTION ampersand.key_match(p_table text, p_left text, p_right text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT string_agg(format('%1$s.%3$I = %2$s.%3$I', p_left, p_right, c), ' AND ')
    FROM unnest(ampersand.key_columns(p_table)) AS c
$$;

COMMENT ON FUNCTION ampersand.key_match(text, text, text) IS 'Internal: an SQL condition matching two row aliases on the key columns of a synced table.';
