-- 0.2.0: a connection's catalogVars in its own column, hashes of the source object, and
-- the writer functions moved out of the migrations.
--
-- The functions that plan and write history (begin_plan, plan_table, prepare_stage,
-- merge_stage, delete_planned and their helpers) now have one current definition each
-- in sql/functions/, which `ampsync migrate` applies after the versioned migrations.
-- V2's writers have had no caller since V5: dropped.
DROP FUNCTION ampersand.write_versions(text, bigint, timestamptz, jsonb);
DROP FUNCTION ampersand.touch_rows(text, jsonb);
DROP FUNCTION ampersand.delete_versions(text, bigint, timestamptz, jsonb);
-- begin_plan now takes the synced tables from ampsync's catalog (sql/functions/).
DROP FUNCTION ampersand.begin_plan();

-- catalogVars: sent by the API and read by Ampersand's own clients, kept in extra by
-- 0.1.0. The first 0.2.0 run moves it out of extra into the column in place, without a
-- version (the row's hash does not change, see src/rows.rs).
ALTER TABLE ampersand.connections ADD COLUMN catalog_vars jsonb;
ALTER TABLE ampersand.connections_history ADD COLUMN catalog_vars jsonb;
COMMENT ON COLUMN ampersand.connections.catalog_vars IS 'The connection''s catalog variables (catalogVars): values the integration''s catalog refers to, such as a workspace or region (JSON, scrubbed of secrets).';
COMMENT ON COLUMN ampersand.connections_history.catalog_vars IS 'The connection''s catalog variables (catalogVars): values the integration''s catalog refers to, such as a workspace or region (JSON, scrubbed of secrets).';

-- What the hashes are now: of the source object, so a new column or a promoted field
-- leaves unchanged objects unchanged.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'integrations', 'groups', 'consumers',
                             'provider_apps', 'connections', 'configs', 'installations',
                             'projects_history', 'integrations_history', 'groups_history',
                             'consumers_history', 'provider_apps_history',
                             'connections_history', 'configs_history',
                             'installations_history'] LOOP
        EXECUTE format('COMMENT ON COLUMN ampersand.%I.content_hash IS %L', t,
            'Hash of the source object''s versioned content (its fields under their API names, nulls and token times left out); a new hash means a new history version. Rows not seen since 0.1.0 may still hold 0.1.0''s hash of their columns.');
        EXECUTE format('COMMENT ON COLUMN ampersand.%I.row_hash IS %L', t,
            'Hash of the whole source object, token times included: a change to it alone updates the row in place.');
    END LOOP;
END $$;
