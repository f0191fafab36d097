-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- Per UTC day, integration and object: read operations and the records they processed.
SELECT ampersand.replace_view('records_processed_per_day', $view$
SELECT o.project_id,
       (o.create_time AT TIME ZONE 'UTC')::date AS day,
       o.integration_id,
       obj.object_name,
       count(*)                                 AS reads,
       coalesce(sum(o.records_processed), 0)    AS records_processed,
       count(*) FILTER (WHERE o.status = 'failure') AS failures
FROM ampersand.operations AS o
CROSS JOIN LATERAL (
    SELECT coalesce(o.objects[1], '(none)') AS object_name
) AS obj
WHERE o.action_type = 'read' AND o.create_time IS NOT NULL
GROUP BY o.project_id, day, o.integration_id, obj.object_name
$view$);

COMMENT ON VIEW ampersand.records_processed_per_day IS 'Per UTC day, integration and object (the operation''s first object): read operations and the records they processed (metadata.progress.recordsProcessed).';
COMMENT ON COLUMN ampersand.records_processed_per_day.object_name IS 'The read''s first object (metadata.objects[0]); (none) when it named none.';
COMMENT ON COLUMN ampersand.records_processed_per_day.records_processed IS 'Sum of recordsProcessed over those reads (a running read counts what it had processed at the last sync).';
COMMENT ON COLUMN ampersand.records_processed_per_day.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.records_processed_per_day.day IS 'UTC date of the read''s createTime.';
COMMENT ON COLUMN ampersand.records_processed_per_day.integration_id IS 'The integration (integrations.id).';
COMMENT ON COLUMN ampersand.records_processed_per_day.reads IS 'Read operations created that day.';
COMMENT ON COLUMN ampersand.records_processed_per_day.failures IS 'Of those, failed.';
