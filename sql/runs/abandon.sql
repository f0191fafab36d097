-- Runs of this project still `running` while we hold its lock died without finishing.
UPDATE ampersand.sync_runs
SET status = 'abandoned', finished_at = clock_timestamp(),
    error = 'the run stopped without finishing (killed, or its connection was lost)'
WHERE project = $1 AND status = 'running'
RETURNING id
