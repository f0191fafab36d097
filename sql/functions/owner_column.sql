-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- The column that says which project a row of a synced table belongs to: project_id,
-- or id for projects itself.
CREATE OR REPLACE FUNCTION ampersand.owner_column(p_table text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT FROM pg_attribute
                             WHERE attrelid = ampersand.synced_table(p_table)
                               AND attname = 'project_id' AND NOT attisdropped)
                THEN 'project_id' ELSE 'id' END
$$;

COMMENT ON FUNCTION ampersand.owner_column(text) IS 'Internal: the column of a synced table that holds the project a row belongs to (project_id, or id for projects).';
