-- Per project: the status of its latest run and when its last successful run finished.
SELECT project,
       (array_agg(status ORDER BY id DESC))[1] AS last_status,
       max(finished_at) FILTER (WHERE status = 'succeeded') AS last_success
FROM ampersand.sync_runs
WHERE $1::text IS NULL OR project = $1
GROUP BY project
ORDER BY project
