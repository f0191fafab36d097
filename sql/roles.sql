-- A read-only role for BI tools and analysts: it can read every table, view and
-- function of schema ampersand, now and after later migrations, and nothing else (no
-- writes, no other schema). It cannot log in; grant it to the login your BI tool uses.
--
-- Run once, as the user ampsync connects as (the owner of schema ampersand) or as a
-- superuser, after ampsync has migrated the database; running it again changes nothing:
--
--   psql "$DATABASE_URL" -f sql/roles.sql
--   psql "$DATABASE_URL" -c "CREATE ROLE metabase LOGIN PASSWORD '...' IN ROLE ampersand_reader"
--
-- Parameters (psql variables):
--   reader   the role's name (default: ampersand_reader)
--
-- "Future" objects: default privileges are given for the owner of schema ampersand,
-- the role that creates the tables when ampsync migrates, so tables and views added by
-- later migrations are readable without running this again.
--
-- The job's writer functions (write_versions, touch_rows, delete_versions) are
-- executable too, as every function is by default, but they run with the caller's
-- rights: for this role they fail with "permission denied".
\if :{?reader}
\else
\set reader ampersand_reader
\endif
\set ON_ERROR_STOP on
SELECT set_config('ampsync.reader', :'reader', false) AS reader \gset

DO $$
DECLARE
    -- Set above from the psql variable; the block also runs alone, in any client.
    reader text := coalesce(nullif(current_setting('ampsync.reader', true), ''), 'ampersand_reader');
    owner  text;
BEGIN
    SELECT nspowner::regrole::text INTO owner FROM pg_namespace WHERE nspname = 'ampersand';
    IF owner IS NULL THEN
        RAISE EXCEPTION 'schema ampersand does not exist: run `ampsync migrate` first';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', reader);
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA ampersand TO %I', reader);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA ampersand TO %I', reader);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ampersand TO %I', reader);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA ampersand GRANT SELECT ON TABLES TO %I', owner, reader);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA ampersand GRANT EXECUTE ON FUNCTIONS TO %I', owner, reader);
END $$;
