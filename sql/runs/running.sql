-- The run that holds a project's lock, for the message of one that cannot get it.
SELECT id, command, started_at, host, pid FROM ampersand.sync_runs
WHERE project = $1 AND status = 'running'
ORDER BY id DESC LIMIT 1
