-- The latest runs, newest first, of one project ($1) or of all (null).
SELECT id, command, project, group_ref, status, observed_at, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::float8 AS seconds,
       rows_inserted, rows_updated, rows_deleted, rejected, rejected_without_payload,
       deletions_skipped_reason, error
FROM ampersand.sync_runs
WHERE $1::text IS NULL OR project = $1
ORDER BY id DESC
LIMIT $2
