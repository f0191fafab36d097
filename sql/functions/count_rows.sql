-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Live and soft-deleted rows of a synced table, for one project or all (null).
CREATE OR REPLACE FUNCTION ampersand.count_rows(p_table text, p_project text, OUT live bigint, OUT deleted bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    EXECUTE format('SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL)
                    FROM %s WHERE $1::text IS NULL OR %I = $1',
                   ampersand.synced_table(p_table), ampersand.owner_column(p_table))
    INTO live, deleted
    USING p_project;
END $$;

COMMENT ON FUNCTION ampersand.count_rows(text, text) IS 'Live and soft-deleted rows of a synced table, for one project (its id) or all (null): SELECT * FROM ampersand.count_rows(''installations'', NULL).';
