-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Each live installation whose health is not "healthy", with its last failed operation
-- and that operation's first error log line, when a sync read its logs.
SELECT ampersand.replace_view('unhealthy_installation_last_failure', $view$
SELECT i.project_id,
       i.id                 AS installation_id,
       i.integration_id,
       i.group_ref,
       i.health_status,
       i.last_operation_status,
       f.id                 AS operation_id,
       f.action_type,
       f.create_time        AS failed_at,
       f.result,
       l.message            AS log_message,
       l.error              AS log_error
FROM ampersand.installations AS i
LEFT JOIN LATERAL (
    SELECT o.* FROM ampersand.operations AS o
    WHERE o.project_id = i.project_id AND o.installation_id = i.id AND o.status = 'failure'
    ORDER BY o.create_time DESC NULLS LAST, o.id DESC
    LIMIT 1
) AS f ON true
LEFT JOIN LATERAL (
    SELECT g.message, g.error FROM ampersand.operation_logs AS g
    WHERE g.project_id = f.project_id AND g.operation_id = f.id
    ORDER BY (g.error IS NULL), g.logged_at DESC NULLS LAST
    LIMIT 1
) AS l ON true
WHERE i.deleted_at IS NULL AND i.health_status IS DISTINCT FROM 'healthy'
$view$);

COMMENT ON VIEW ampersand.unhealthy_installation_last_failure IS 'Each live installation that is not healthy, with its last failed operation (result) and the error of that operation''s logs, when read.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.failed_at IS 'createTime of the last failed operation (null: none read yet).';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.result IS 'That operation''s result summary.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.log_message IS 'A log line of that operation: one with an error first, else the newest.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.log_error IS 'That log line''s error.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.installation_id IS 'The installation (installations.id).';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.integration_id IS 'Its integration (integrations.id).';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.group_ref IS 'Its group.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.health_status IS 'Its health, as the last snapshot had it.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.last_operation_status IS 'Its lastOperationStatus, as the last snapshot had it.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.operation_id IS 'Its last failed operation (operations.id); null when none was read.';
COMMENT ON COLUMN ampersand.unhealthy_installation_last_failure.action_type IS 'That operation''s action type.';
