-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- One row per live installation, with the names a person looks for next to the ids.
SELECT ampersand.replace_view('installation_overview', $view$
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
WHERE i.deleted_at IS NULL
$view$);

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
