-- The latest runs, newest first, of one project ($1) or of all (null); the lists the
-- API would not give as their names, comma-separated.
SELECT id, command, project, group_ref, status, observed_at, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::float8 AS seconds,
       rows_inserted, rows_updated, rows_deleted, rejected, rejected_without_payload,
       deletions_skipped_reason, error,
       (SELECT string_agg(name, ',' ORDER BY name)
        FROM jsonb_object_keys(CASE jsonb_typeof(lists_unavailable) WHEN 'object'
                                    THEN lists_unavailable END) AS name) AS lists_unavailable,
       operations
FROM ampersand.sync_runs
WHERE $1::text IS NULL OR project = $1
ORDER BY id DESC
LIMIT $2
