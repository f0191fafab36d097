-- Per project: its latest run (status, when it finished, how long it took, what it
-- wrote and rejected) and when its last successful run finished.
SELECT f.project, l.status AS last_status, f.last_success,
       l.finished_at AS last_finished,
       extract(epoch FROM l.finished_at - l.started_at)::float8 AS last_seconds,
       l.rows_inserted AS last_rows_inserted, l.rows_updated AS last_rows_updated,
       l.rows_deleted AS last_rows_deleted, l.rejected AS last_rejected
FROM (SELECT project, max(id) AS last_id,
             max(finished_at) FILTER (WHERE status = 'succeeded') AS last_success
      FROM ampersand.sync_runs
      WHERE $1::text IS NULL OR project = $1
      GROUP BY project) AS f
JOIN ampersand.sync_runs AS l ON l.id = f.last_id
ORDER BY f.project
