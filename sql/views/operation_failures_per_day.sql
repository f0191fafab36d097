-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Per UTC day (of createTime), integration and action: operations, and how many failed.
SELECT ampersand.replace_view('operation_failures_per_day', $view$
SELECT o.project_id,
       (o.create_time AT TIME ZONE 'UTC')::date          AS day,
       o.integration_id,
       ig.name                                           AS integration_name,
       o.action_type,
       count(*)                                          AS operations,
       count(*) FILTER (WHERE o.status = 'failure')      AS failures,
       count(*) FILTER (WHERE o.status = 'in_progress')  AS in_progress
FROM ampersand.operations AS o
LEFT JOIN ampersand.integrations AS ig ON ig.id = o.integration_id
WHERE o.create_time IS NOT NULL
GROUP BY o.project_id, day, o.integration_id, ig.name, o.action_type
$view$);

COMMENT ON VIEW ampersand.operation_failures_per_day IS 'Per UTC day (of the operation''s createTime), integration and action type: how many operations ran, failed and are still in progress.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.day IS 'UTC date of createTime.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.operations IS 'Operations created that day.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.failures IS 'Of those, with status failure.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.in_progress IS 'Of those, still in_progress at the last read.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operation_failures_per_day.integration_id IS 'The integration (integrations.id).';
COMMENT ON COLUMN ampersand.operation_failures_per_day.integration_name IS 'Its name.';
COMMENT ON COLUMN ampersand.operation_failures_per_day.action_type IS 'read, write or subscribe.';
