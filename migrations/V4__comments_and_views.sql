-- For the people who query: two views for the questions asked first, and a comment on
-- every table, column, view and function of schema ampersand, which BI tools (Metabase,
-- Superset, Grafana, DBeaver) show next to each field.
--
-- A migration that adds a table, column, view or function comments it too: a test
-- (tests/api/sql_files.rs) fails on any object of the schema without a comment.

-- One row per live installation, with the names a person looks for next to the ids.
CREATE VIEW ampersand.installation_overview AS
SELECT i.id                        AS installation_id,
       i.project_id,
       i.integration_id,
       ig.name                     AS integration_name,
       coalesce(ig.provider, c.provider) AS provider,
       i.group_ref,
       g.group_name,
       c.consumer_ref,
       cu.consumer_name,
       i.connection_id,
       c.status                    AS connection_status,
       i.health_status,
       i.last_operation_status,
       c.access_token_expires_at,
       c.refresh_token_expires_at,
       i.created_by,
       i.create_time,
       i.update_time,
       i.first_seen_at,
       i.changed_at
FROM ampersand.installations AS i
LEFT JOIN ampersand.integrations AS ig ON ig.id = i.integration_id
LEFT JOIN ampersand.groups AS g ON g.project_id = i.project_id AND g.group_ref = i.group_ref
LEFT JOIN ampersand.connections AS c ON c.id = i.connection_id
LEFT JOIN ampersand.consumers AS cu ON cu.project_id = c.project_id AND cu.consumer_ref = c.consumer_ref
WHERE i.deleted_at IS NULL;

-- One row per live config × object it reads (configs.content -> 'read' -> 'objects').
-- Config content is free-form JSON the API may change: every cast below is guarded by
-- jsonb_typeof, so an unexpected shape gives a null, never an error for the whole view.
-- (Nested CASEs, not AND: Postgres does not promise to evaluate AND left to right.)
CREATE VIEW ampersand.config_read_objects AS
SELECT c.id                        AS config_id,
       c.project_id,
       c.installation_id,
       i.integration_id,
       ig.name                     AS integration_name,
       i.group_ref,
       g.group_name,
       o.key                       AS object_key,
       coalesce(o.value ->> 'objectName', o.key) AS object_name,
       o.value ->> 'schedule'      AS schedule,
       CASE jsonb_typeof(o.value -> 'disabled')
           WHEN 'boolean' THEN (o.value ->> 'disabled')::boolean
           WHEN 'null' THEN false
           ELSE CASE WHEN o.value -> 'disabled' IS NULL THEN false END
       END                         AS disabled,
       o.value ->> 'destination'   AS destination,
       ARRAY(SELECT f.key
             FROM jsonb_each(CASE jsonb_typeof(o.value -> 'selectedFields')
                                 WHEN 'object' THEN o.value -> 'selectedFields'
                                 ELSE '{}'::jsonb END) AS f
             WHERE f.value = 'true'::jsonb
             ORDER BY f.key)       AS selected_fields,
       o.value ->> 'selectedFieldsAuto' AS selected_fields_auto,
       o.value -> 'selectedFieldMappings' AS selected_field_mappings,
       CASE jsonb_typeof(o.value #> '{backfill,defaultPeriod,fullHistory}')
           WHEN 'boolean' THEN (o.value #>> '{backfill,defaultPeriod,fullHistory}')::boolean
       END                         AS backfill_full_history,
       CASE jsonb_typeof(o.value #> '{backfill,defaultPeriod,days}')
           WHEN 'number' THEN
               CASE WHEN (o.value #>> '{backfill,defaultPeriod,days}')::numeric BETWEEN 0 AND 2147483647
                    THEN (o.value #>> '{backfill,defaultPeriod,days}')::numeric::integer
               END
       END                         AS backfill_days,
       o.value -> 'backfill'       AS backfill,
       o.value                     AS object_config
FROM ampersand.configs AS c
LEFT JOIN ampersand.installations AS i ON i.id = c.installation_id
LEFT JOIN ampersand.integrations AS ig ON ig.id = i.integration_id
LEFT JOIN ampersand.groups AS g ON g.project_id = i.project_id AND g.group_ref = i.group_ref
CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(c.content #> '{read,objects}')
                                  WHEN 'object' THEN c.content #> '{read,objects}'
                                  ELSE '{}'::jsonb END) AS o
WHERE c.deleted_at IS NULL;

------------------------------------------------------------------------------------------
-- Schema, bookkeeping tables
------------------------------------------------------------------------------------------

COMMENT ON SCHEMA ampersand IS
    'Copy of Ampersand projects (installations, connections, groups, consumers, provider apps, configs, integrations) written by ampsync, with the full history of every change. Current rows in the plain tables, every version in the *_history tables, point-in-time reads with the *_as_of functions.';

COMMENT ON TABLE ampersand.sync_runs IS
    'One row per ampsync run (sync or import) of one project: when, what it changed, how it ended.';
COMMENT ON COLUMN ampersand.sync_runs.id IS 'Run id; the sync_run_id of the rows and versions this run wrote.';
COMMENT ON COLUMN ampersand.sync_runs.command IS 'The command that ran: sync (from the API) or import (from saved responses).';
COMMENT ON COLUMN ampersand.sync_runs.project IS 'Id of the project the run synced.';
COMMENT ON COLUMN ampersand.sync_runs.group_ref IS 'The group a --group-ref sync was limited to; null for a whole-project run.';
COMMENT ON COLUMN ampersand.sync_runs.dry_run IS 'True for a run that only planned and wrote nothing.';
COMMENT ON COLUMN ampersand.sync_runs.observed_at IS 'The time the snapshot stands for: valid_from of every version this run wrote. For an import, the file''s --observed-at.';
COMMENT ON COLUMN ampersand.sync_runs.started_at IS 'Wall-clock time the run started.';
COMMENT ON COLUMN ampersand.sync_runs.finished_at IS 'Wall-clock time the run ended; null while it runs (or if it died: see status abandoned).';
COMMENT ON COLUMN ampersand.sync_runs.status IS 'running, succeeded, failed (error says why; nothing was applied) or abandoned (the process stopped without finishing; marked by the next run).';
COMMENT ON COLUMN ampersand.sync_runs.counts IS 'Per table: rows inserted, updated, restored, deleted, and touched (token times refreshed without a new version), as JSON.';
COMMENT ON COLUMN ampersand.sync_runs.rows_inserted IS 'Rows inserted or restored, all tables together.';
COMMENT ON COLUMN ampersand.sync_runs.rows_updated IS 'Rows updated, all tables together: new versions plus rows whose token times alone were refreshed in place (counts has the split).';
COMMENT ON COLUMN ampersand.sync_runs.rows_deleted IS 'Rows soft-deleted (gone from the source), all tables together.';
COMMENT ON COLUMN ampersand.sync_runs.rejected IS 'Source objects that could not be read (see rejected_records).';
COMMENT ON COLUMN ampersand.sync_runs.deletions_skipped_reason IS 'Why the run deleted nothing although objects were missing (e.g. records were rejected); null when deletions ran.';
COMMENT ON COLUMN ampersand.sync_runs.error IS 'Why a failed run failed (secrets removed).';
COMMENT ON COLUMN ampersand.sync_runs.tool_version IS 'ampsync version that ran.';
COMMENT ON COLUMN ampersand.sync_runs.host IS 'Host name of the machine (pod) that ran it.';
COMMENT ON COLUMN ampersand.sync_runs.pid IS 'Process id of the run on that host.';

COMMENT ON TABLE ampersand.rejected_records IS
    'Source objects a run could not read (no id, wrong type), kept for inspection with secrets removed. Their presence stops that run from deleting anything.';
COMMENT ON COLUMN ampersand.rejected_records.sync_run_id IS 'The run that met the object (sync_runs.id).';
COMMENT ON COLUMN ampersand.rejected_records.source IS 'Where it came from: the endpoint or file that sent it (e.g. installations, integrations).';
COMMENT ON COLUMN ampersand.rejected_records.position IS 'Index of the object in the response array, from 0.';
COMMENT ON COLUMN ampersand.rejected_records.reason IS 'Why it could not be read.';
COMMENT ON COLUMN ampersand.rejected_records.payload IS 'The object as received, with every secret field removed.';

------------------------------------------------------------------------------------------
-- Current-state tables: what is special to each. The columns every table shares
-- (extra, hashes, first_seen_at, ...) are commented by the block at the end.
------------------------------------------------------------------------------------------

COMMENT ON TABLE ampersand.projects IS 'Ampersand projects (GET /projects/{id}); one row per project synced.';
COMMENT ON COLUMN ampersand.projects.id IS 'Project id.';
COMMENT ON COLUMN ampersand.projects.name IS 'Project name (unique within the organization; usable instead of the id).';
COMMENT ON COLUMN ampersand.projects.app_name IS 'Display name of the app, shown to end users in the connection UI.';
COMMENT ON COLUMN ampersand.projects.org_id IS 'Id of the Ampersand organization that owns the project.';
COMMENT ON COLUMN ampersand.projects.create_time IS 'When the project was created (per the API).';
COMMENT ON COLUMN ampersand.projects.update_time IS 'When the project was last updated (per the API).';
COMMENT ON COLUMN ampersand.projects.entitlements IS 'The project''s entitlements as the API sends them (JSON).';

COMMENT ON TABLE ampersand.integrations IS 'Integrations defined in a project (GET /projects/{id}/integrations): what an installation installs.';
COMMENT ON COLUMN ampersand.integrations.id IS 'Integration id.';
COMMENT ON COLUMN ampersand.integrations.name IS 'Integration name, as in the amp.yaml manifest.';
COMMENT ON COLUMN ampersand.integrations.provider IS 'SaaS provider the integration connects to (salesforce, hubspot, ...).';
COMMENT ON COLUMN ampersand.integrations.create_time IS 'When the integration was created (per the API).';
COMMENT ON COLUMN ampersand.integrations.update_time IS 'When the integration was last updated (per the API).';
COMMENT ON COLUMN ampersand.integrations.latest_revision_id IS 'Id of the latest revision of the integration''s definition.';
COMMENT ON COLUMN ampersand.integrations.latest_revision_spec_version IS 'Manifest spec version of that revision.';
COMMENT ON COLUMN ampersand.integrations.latest_revision_create_time IS 'When that revision was created.';
COMMENT ON COLUMN ampersand.integrations.latest_revision_content IS 'That revision''s definition (objects it can read, write, subscribe to) as JSON.';

COMMENT ON TABLE ampersand.groups IS 'Groups: the customer (company, team) an installation and a connection belong to. From Installation.group and Connection.group.';
COMMENT ON COLUMN ampersand.groups.group_ref IS 'The builder''s own id for the group (groupRef).';
COMMENT ON COLUMN ampersand.groups.group_name IS 'Display name of the group.';
COMMENT ON COLUMN ampersand.groups.create_time IS 'When the group was created (per the API).';
COMMENT ON COLUMN ampersand.groups.update_time IS 'When the group was last updated (per the API).';

COMMENT ON TABLE ampersand.consumers IS 'Consumers: the end users who created connections. From Connection.consumer.';
COMMENT ON COLUMN ampersand.consumers.consumer_ref IS 'The builder''s own id for the consumer (consumerRef).';
COMMENT ON COLUMN ampersand.consumers.consumer_name IS 'Display name of the consumer.';
COMMENT ON COLUMN ampersand.consumers.create_time IS 'When the consumer was created (per the API).';
COMMENT ON COLUMN ampersand.consumers.update_time IS 'When the consumer was last updated (per the API).';

COMMENT ON TABLE ampersand.provider_apps IS 'The builder''s OAuth apps registered with providers. From Connection.providerApp; no client secret is stored.';
COMMENT ON COLUMN ampersand.provider_apps.id IS 'Provider app id.';
COMMENT ON COLUMN ampersand.provider_apps.provider IS 'Provider the app is registered with.';
COMMENT ON COLUMN ampersand.provider_apps.client_id IS 'OAuth client id of the app (public; the client secret is never stored).';
COMMENT ON COLUMN ampersand.provider_apps.external_ref IS 'The app''s id at the provider, if known.';
COMMENT ON COLUMN ampersand.provider_apps.scopes IS 'OAuth scopes the app requests (flattened if the API nests them).';
COMMENT ON COLUMN ampersand.provider_apps.metadata IS 'Provider-specific app metadata (JSON).';
COMMENT ON COLUMN ampersand.provider_apps.create_time IS 'When the provider app was created (per the API).';
COMMENT ON COLUMN ampersand.provider_apps.update_time IS 'When the provider app was last updated (per the API).';

COMMENT ON TABLE ampersand.connections IS 'Connections: a group''s authorized access to a provider, used by its installations. From Installation.connection; tokens and API keys are never stored, only whether they exist and their times.';
COMMENT ON COLUMN ampersand.connections.id IS 'Connection id (installations.connection_id).';
COMMENT ON COLUMN ampersand.connections.provider IS 'Provider the connection is to (salesforce, hubspot, ...).';
COMMENT ON COLUMN ampersand.connections.provider_app_id IS 'The provider app used to authorize it (provider_apps.id); null for API-key connections.';
COMMENT ON COLUMN ampersand.connections.group_ref IS 'Group the connection belongs to (groups.group_ref).';
COMMENT ON COLUMN ampersand.connections.consumer_ref IS 'Consumer who created the connection (consumers.consumer_ref).';
COMMENT ON COLUMN ampersand.connections.provider_workspace_ref IS 'The customer''s workspace, org or subdomain at the provider.';
COMMENT ON COLUMN ampersand.connections.provider_consumer_ref IS 'The connecting user''s id at the provider.';
COMMENT ON COLUMN ampersand.connections.create_time IS 'When the connection was created (per the API).';
COMMENT ON COLUMN ampersand.connections.update_time IS 'When the connection was last updated (per the API).';
COMMENT ON COLUMN ampersand.connections.auth_scheme IS 'How it authenticates: oauth2/authorizationCode, oauth2/clientCredentials, apiKey, basic, ...';
COMMENT ON COLUMN ampersand.connections.status IS 'Connection status: working, created, bad_credentials, ... (unknown values kept as sent). bad_credentials needs the customer to reconnect.';
COMMENT ON COLUMN ampersand.connections.has_access_token IS 'Whether the API reported an OAuth access token (the token itself is never stored).';
COMMENT ON COLUMN ampersand.connections.access_token_issued_at IS 'When the current access token was issued. Moves on every refresh without creating a history version.';
COMMENT ON COLUMN ampersand.connections.access_token_expires_at IS 'When the current access token expires (Ampersand refreshes it). Moves on every refresh without creating a history version.';
COMMENT ON COLUMN ampersand.connections.has_refresh_token IS 'Whether the API reported an OAuth refresh token (never stored).';
COMMENT ON COLUMN ampersand.connections.refresh_token_issued_at IS 'When the refresh token was issued.';
COMMENT ON COLUMN ampersand.connections.refresh_token_expires_at IS 'When the refresh token expires; after that the customer must reconnect.';
COMMENT ON COLUMN ampersand.connections.oauth_scopes IS 'OAuth scopes granted to the connection.';
COMMENT ON COLUMN ampersand.connections.has_api_key IS 'Whether the connection holds an API key (never stored).';
COMMENT ON COLUMN ampersand.connections.provider_metadata IS 'Provider-specific connection metadata, e.g. the Salesforce instance URL (JSON).';

COMMENT ON TABLE ampersand.configs IS 'Installation configs: which objects an installation reads and writes, on what schedule, with which fields. From Installation.config. See view config_read_objects for one row per object.';
COMMENT ON COLUMN ampersand.configs.id IS 'Config id (installations.config_id).';
COMMENT ON COLUMN ampersand.configs.installation_id IS 'The installation the config belongs to (installations.id).';
COMMENT ON COLUMN ampersand.configs.revision_id IS 'Integration revision the config was made for (integrations.latest_revision_id when current).';
COMMENT ON COLUMN ampersand.configs.create_time IS 'When the config was created (per the API).';
COMMENT ON COLUMN ampersand.configs.created_by IS 'Who created it, as the API says it: kind:ref, e.g. consumer:user-17.';
COMMENT ON COLUMN ampersand.configs.created_by_kind IS 'The kind part of created_by: consumer, builder, ...';
COMMENT ON COLUMN ampersand.configs.created_by_ref IS 'The ref part of created_by (a consumer_ref for kind consumer).';
COMMENT ON COLUMN ampersand.configs.content IS 'The config (provider, read.objects, write.objects, proxy, ...) as JSON, secrets removed.';

COMMENT ON TABLE ampersand.installations IS 'Installations: one integration installed for one group, with its health. The main table (GET /projects/{id}/installations).';
COMMENT ON COLUMN ampersand.installations.id IS 'Installation id.';
COMMENT ON COLUMN ampersand.installations.integration_id IS 'What was installed (integrations.id).';
COMMENT ON COLUMN ampersand.installations.health_status IS 'healthy or unhealthy (unknown values kept as sent).';
COMMENT ON COLUMN ampersand.installations.last_operation_status IS 'Outcome of the installation''s latest operation: success, failure, in_progress, ...';
COMMENT ON COLUMN ampersand.installations.connection_id IS 'The connection it uses (connections.id).';
COMMENT ON COLUMN ampersand.installations.config_id IS 'Its config (configs.id).';
COMMENT ON COLUMN ampersand.installations.group_ref IS 'The group it is installed for (groups.group_ref).';
COMMENT ON COLUMN ampersand.installations.create_time IS 'When it was installed (per the API).';
COMMENT ON COLUMN ampersand.installations.created_by IS 'Who installed it, as the API says it: kind:ref, e.g. consumer:user-17 or builder:...';
COMMENT ON COLUMN ampersand.installations.created_by_kind IS 'The kind part of created_by: consumer, builder, ...';
COMMENT ON COLUMN ampersand.installations.created_by_ref IS 'The ref part of created_by.';
COMMENT ON COLUMN ampersand.installations.update_time IS 'When the installation was last updated (per the API); null if never.';

------------------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------------------

COMMENT ON VIEW ampersand.change_log IS
    'Every change to every synced table, newest versions included: which table and key, insert/update/delete, when (the snapshot''s observed time) and by which run; for an update, the columns that changed.';
COMMENT ON COLUMN ampersand.change_log.table_name IS 'The table that changed (projects, integrations, groups, consumers, provider_apps, connections, configs, installations).';
COMMENT ON COLUMN ampersand.change_log.project_id IS 'Project of the changed row.';
COMMENT ON COLUMN ampersand.change_log.key IS 'Key of the changed row: its id, or group_ref / consumer_ref for groups and consumers.';
COMMENT ON COLUMN ampersand.change_log.change IS 'insert (new, or back after a delete), update, or delete (gone from the source).';
COMMENT ON COLUMN ampersand.change_log.changed_at IS 'Observed time of the snapshot that showed the change (sync_runs.observed_at).';
COMMENT ON COLUMN ampersand.change_log.sync_run_id IS 'The run that recorded the change (sync_runs.id).';
COMMENT ON COLUMN ampersand.change_log.changed_columns IS 'For an update: names of the columns whose values changed; null otherwise.';

COMMENT ON VIEW ampersand.installation_overview IS
    'One row per live installation, with its integration, provider, group, consumer, connection status, health and token expiry.';
COMMENT ON COLUMN ampersand.installation_overview.installation_id IS 'Installation id.';
COMMENT ON COLUMN ampersand.installation_overview.project_id IS 'Project id.';
COMMENT ON COLUMN ampersand.installation_overview.integration_id IS 'Integration id.';
COMMENT ON COLUMN ampersand.installation_overview.integration_name IS 'Integration name.';
COMMENT ON COLUMN ampersand.installation_overview.provider IS 'Provider (from the integration, else the connection).';
COMMENT ON COLUMN ampersand.installation_overview.group_ref IS 'Group the installation is for.';
COMMENT ON COLUMN ampersand.installation_overview.group_name IS 'Group display name.';
COMMENT ON COLUMN ampersand.installation_overview.consumer_ref IS 'Consumer who created the connection.';
COMMENT ON COLUMN ampersand.installation_overview.consumer_name IS 'Consumer display name.';
COMMENT ON COLUMN ampersand.installation_overview.connection_id IS 'Connection the installation uses.';
COMMENT ON COLUMN ampersand.installation_overview.connection_status IS 'Connection status: working, created, bad_credentials, ...';
COMMENT ON COLUMN ampersand.installation_overview.health_status IS 'Installation health: healthy, unhealthy, ...';
COMMENT ON COLUMN ampersand.installation_overview.last_operation_status IS 'Outcome of the latest operation: success, failure, in_progress, ...';
COMMENT ON COLUMN ampersand.installation_overview.access_token_expires_at IS 'When the connection''s access token expires (refreshed by Ampersand).';
COMMENT ON COLUMN ampersand.installation_overview.refresh_token_expires_at IS 'When the connection''s refresh token expires; after that the customer must reconnect.';
COMMENT ON COLUMN ampersand.installation_overview.created_by IS 'Who installed it (kind:ref).';
COMMENT ON COLUMN ampersand.installation_overview.create_time IS 'When it was installed (per the API).';
COMMENT ON COLUMN ampersand.installation_overview.update_time IS 'When it was last updated (per the API).';
COMMENT ON COLUMN ampersand.installation_overview.first_seen_at IS 'Observed time of the first snapshot that had it.';
COMMENT ON COLUMN ampersand.installation_overview.changed_at IS 'Observed time of the snapshot that last changed it.';

COMMENT ON VIEW ampersand.config_read_objects IS
    'One row per live config and object it reads (configs.content -> read -> objects): schedule, destination, selected fields, backfill period.';
COMMENT ON COLUMN ampersand.config_read_objects.config_id IS 'Config id.';
COMMENT ON COLUMN ampersand.config_read_objects.project_id IS 'Project id.';
COMMENT ON COLUMN ampersand.config_read_objects.installation_id IS 'Installation the config belongs to.';
COMMENT ON COLUMN ampersand.config_read_objects.integration_id IS 'Integration installed.';
COMMENT ON COLUMN ampersand.config_read_objects.integration_name IS 'Integration name.';
COMMENT ON COLUMN ampersand.config_read_objects.group_ref IS 'Group the installation is for.';
COMMENT ON COLUMN ampersand.config_read_objects.group_name IS 'Group display name.';
COMMENT ON COLUMN ampersand.config_read_objects.object_key IS 'Key of the object in read.objects.';
COMMENT ON COLUMN ampersand.config_read_objects.object_name IS 'Provider object read (objectName, else the key), e.g. account, contact.';
COMMENT ON COLUMN ampersand.config_read_objects.schedule IS 'Read schedule, cron syntax (e.g. */15 * * * *).';
COMMENT ON COLUMN ampersand.config_read_objects.disabled IS 'True when scheduled reads of the object are paused (absent means false; null if not a boolean).';
COMMENT ON COLUMN ampersand.config_read_objects.destination IS 'Destination the records are sent to (e.g. a webhook name).';
COMMENT ON COLUMN ampersand.config_read_objects.selected_fields IS 'Fields selected for reading (those set to true in selectedFields), sorted.';
COMMENT ON COLUMN ampersand.config_read_objects.selected_fields_auto IS 'selectedFieldsAuto: all means every field is read.';
COMMENT ON COLUMN ampersand.config_read_objects.selected_field_mappings IS 'selectedFieldMappings: destination field name → provider field (JSON).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill_full_history IS 'True when the backfill reads all history (backfill.defaultPeriod.fullHistory).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill_days IS 'Days of history the backfill reads (backfill.defaultPeriod.days; 0 = none).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill IS 'The backfill settings as JSON.';
COMMENT ON COLUMN ampersand.config_read_objects.object_config IS 'The object''s whole read config as JSON (filters, value mappings, ...).';

------------------------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------------------------

COMMENT ON FUNCTION ampersand.synced_table(text) IS 'Internal: the regclass of a synced table, refusing any other name (guards the dynamic SQL of the writer functions).';
COMMENT ON FUNCTION ampersand.table_columns(text) IS 'Internal: the column names of a synced table, in table order.';
COMMENT ON FUNCTION ampersand.key_columns(text) IS 'Internal: the primary-key column names of a synced table.';
COMMENT ON FUNCTION ampersand.key_match(text, text, text) IS 'Internal: an SQL condition matching two row aliases on the key columns of a synced table.';
COMMENT ON FUNCTION ampersand.write_versions(text, bigint, timestamptz, jsonb) IS 'Used by ampsync only: upserts rows of a synced table and writes their new history versions at the observed time. Returns versions written.';
COMMENT ON FUNCTION ampersand.touch_rows(text, jsonb) IS 'Used by ampsync only: updates current rows in place, without a version (token times). Returns rows updated.';
COMMENT ON FUNCTION ampersand.delete_versions(text, bigint, timestamptz, jsonb) IS 'Used by ampsync only: soft-deletes rows (deleted_at) and writes delete tombstones. Returns rows deleted.';
COMMENT ON FUNCTION ampersand.changed_columns(jsonb, jsonb) IS 'Names of the columns whose values differ between two versions of a row (as JSON), bookkeeping columns left out. Used by change_log.';
COMMENT ON FUNCTION ampersand.projects_as_of(timestamptz) IS 'The projects as they were at the given time: SELECT * FROM ampersand.projects_as_of(''2026-11-05'').';
COMMENT ON FUNCTION ampersand.integrations_as_of(timestamptz) IS 'The integrations as they were at the given time.';
COMMENT ON FUNCTION ampersand.groups_as_of(timestamptz) IS 'The groups as they were at the given time.';
COMMENT ON FUNCTION ampersand.consumers_as_of(timestamptz) IS 'The consumers as they were at the given time.';
COMMENT ON FUNCTION ampersand.provider_apps_as_of(timestamptz) IS 'The provider apps as they were at the given time.';
COMMENT ON FUNCTION ampersand.connections_as_of(timestamptz) IS 'The connections as they were at the given time.';
COMMENT ON FUNCTION ampersand.configs_as_of(timestamptz) IS 'The configs as they were at the given time.';
COMMENT ON FUNCTION ampersand.installations_as_of(timestamptz) IS 'The installations as they were at the given time: join the other *_as_of functions at the same time for a consistent picture.';

------------------------------------------------------------------------------------------
-- The columns every synced table shares, then the history tables: their columns mean
-- what the table's do, plus the version columns.
------------------------------------------------------------------------------------------

DO $$
DECLARE
    t text;
    shared constant jsonb := jsonb_build_object(
        'project_id', 'Project the row belongs to (projects.id).',
        'extra', 'Fields of the API object that no column models (new API fields), secrets removed, as JSON: nothing the API sends is lost.',
        'content_hash', 'Hash of the versioned content; a new value means a new history version.',
        'row_hash', 'Hash of the whole row including token times, which change without a new version.',
        'first_seen_at', 'Observed time of the first snapshot that had the row.',
        'changed_at', 'Observed time of the snapshot that last changed the row (or deleted it).',
        'deleted_at', 'Observed time of the snapshot the row disappeared from; null while the row exists at the source.',
        'sync_run_id', 'The run that last changed the row (sync_runs.id).');
    col record;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'integrations', 'groups', 'consumers',
                             'provider_apps', 'connections', 'configs', 'installations'] LOOP
        FOR col IN
            SELECT a.attname::text AS name
            FROM pg_attribute AS a
            WHERE a.attrelid = format('ampersand.%I', t)::regclass AND a.attnum > 0
              AND NOT a.attisdropped AND shared ? a.attname::text
        LOOP
            EXECUTE format('COMMENT ON COLUMN ampersand.%I.%I IS %L', t, col.name, shared ->> col.name);
        END LOOP;

        EXECUTE format('COMMENT ON TABLE ampersand.%I IS %L', t || '_history',
            format('Every version of every row of %s: one row per version, valid from valid_from until valid_to (null: the current version). A delete version is a tombstone. Read with ampersand.%s_as_of(time).', t, t));
        FOR col IN
            SELECT a.attname::text AS name, col_description(a.attrelid, a.attnum) AS text
            FROM pg_attribute AS a
            WHERE a.attrelid = format('ampersand.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        LOOP
            EXECUTE format('COMMENT ON COLUMN ampersand.%I.%I IS %L', t || '_history', col.name,
                CASE col.name
                    WHEN 'sync_run_id' THEN 'The run that wrote this version (sync_runs.id).'
                    WHEN 'changed_at' THEN 'Observed time this version was written (equals valid_from).'
                    WHEN 'deleted_at' THEN 'Set on a delete tombstone: when the row disappeared from the source.'
                    ELSE col.text
                END);
        END LOOP;
        EXECUTE format('COMMENT ON COLUMN ampersand.%I.valid_from IS %L', t || '_history',
            'Observed time from which this version holds (the snapshot that showed it).');
        EXECUTE format('COMMENT ON COLUMN ampersand.%I.valid_to IS %L', t || '_history',
            'Observed time the next version (or the deletion) replaced it; null for the current version.');
        EXECUTE format('COMMENT ON COLUMN ampersand.%I.change IS %L', t || '_history',
            'What opened this version: insert (new, or back after a delete), update, or delete (a tombstone: the row was gone).');
    END LOOP;
END $$;
