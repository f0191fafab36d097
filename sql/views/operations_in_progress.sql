-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Operations whose last read said in_progress, with how long they had run when last
-- seen so (the last read of their installation, or, for an import, the snapshot that
-- wrote them): stuck ones stand out.
SELECT ampersand.replace_view('operations_in_progress', $view$
SELECT o.project_id,
       o.id                          AS operation_id,
       o.installation_id,
       o.integration_id,
       o.action_type,
       o.create_time,
       o.records_processed,
       o.records_estimated_total,
       coalesce(c.last_read_at, o.changed_at)                 AS last_seen_at,
       coalesce(c.last_read_at, o.changed_at) - o.create_time AS running_for
FROM ampersand.operations AS o
LEFT JOIN ampersand.operation_cursors AS c
  ON c.project_id = o.project_id AND c.installation_id = o.installation_id
WHERE o.status = 'in_progress'
$view$);

COMMENT ON VIEW ampersand.operations_in_progress IS 'Operations still in_progress at the last read of their installation, with how long they had run then (running_for, when last seen): order by running_for DESC to find stuck ones.';
COMMENT ON COLUMN ampersand.operations_in_progress.last_seen_at IS 'When it was last seen in progress: the observed time of the last complete read of its installation''s operations, or of the run that wrote it (an import).';
COMMENT ON COLUMN ampersand.operations_in_progress.running_for IS 'last_seen_at - create_time.';
COMMENT ON COLUMN ampersand.operations_in_progress.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operations_in_progress.operation_id IS 'The operation (operations.id).';
COMMENT ON COLUMN ampersand.operations_in_progress.installation_id IS 'Its installation (installations.id).';
COMMENT ON COLUMN ampersand.operations_in_progress.integration_id IS 'Its integration (integrations.id).';
COMMENT ON COLUMN ampersand.operations_in_progress.action_type IS 'read, write or subscribe.';
COMMENT ON COLUMN ampersand.operations_in_progress.create_time IS 'When it was created.';
COMMENT ON COLUMN ampersand.operations_in_progress.records_processed IS 'Records processed at the last read.';
COMMENT ON COLUMN ampersand.operations_in_progress.records_estimated_total IS 'Estimated total, where the provider gives one.';
