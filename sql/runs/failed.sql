UPDATE ampersand.sync_runs
SET status = 'failed', finished_at = clock_timestamp(), error = $2
WHERE id = $1 AND status = 'running'
