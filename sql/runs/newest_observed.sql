-- The observed time of the newest snapshot applied to a project.
SELECT max(observed_at) FROM ampersand.sync_runs
WHERE project = $1 AND status = 'succeeded' AND NOT dry_run
