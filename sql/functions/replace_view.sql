-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Gives view ampersand.<p_name> the definition p_query (the files of sql/views/), and
-- leaves it alone when it has that definition already. Every command migrates first,
-- and CREATE OR REPLACE VIEW takes an ACCESS EXCLUSIVE lock: replacing an unchanged
-- view would make each run wait for the BI queries reading it, and queue new ones
-- behind it. The definitions are compared as Postgres prints them (pg_get_viewdef of a
-- temporary view of p_query), so spacing and comments of the file do not count.
-- Returns whether the view was (re)created.
CREATE OR REPLACE FUNCTION ampersand.replace_view(p_name text, p_query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    current regclass := to_regclass(format('ampersand.%I', p_name));
    wanted  text;
BEGIN
    EXECUTE format('CREATE TEMPORARY VIEW ampsync_view_candidate AS %s', p_query);
    wanted := pg_get_viewdef('pg_temp.ampsync_view_candidate'::regclass);
    DROP VIEW pg_temp.ampsync_view_candidate;
    IF current IS NOT NULL AND pg_get_viewdef(current) = wanted THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE OR REPLACE VIEW ampersand.%I AS %s', p_name, p_query);
    RETURN true;
END $$;

COMMENT ON FUNCTION ampersand.replace_view(text, text) IS 'Internal, used by ampsync migrate: gives a view of schema ampersand its current definition (sql/views/), leaving it untouched (no lock) when it has it already.';
