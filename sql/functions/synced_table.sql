-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- The tables the functions below accept: their names reach dynamic SQL only after this check.
CREATE OR REPLACE FUNCTION ampersand.synced_table(p_table text) RETURNS regclass
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_table NOT IN ('projects', 'integrations', 'groups', 'consumers',
                       'provider_apps', 'connections', 'configs', 'installations') THEN
        RAISE EXCEPTION 'ampersand: % is not a synced table', p_table;
    END IF;
    RETURN format('ampersand.%I', p_table)::regclass;
END $$;

COMMENT ON FUNCTION ampersand.synced_table(text) IS 'Internal: the regclass of a synced table, refusing any other name (guards the dynamic SQL of the writer functions).';
