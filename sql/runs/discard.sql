-- Removes the row of a run that turned out to be a usage error (an import into the
-- wrong project): nothing was applied, so nothing is recorded.
DELETE FROM ampersand.sync_runs
WHERE id = $1 AND status = 'running'
