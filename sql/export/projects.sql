-- The projects this database holds an applied snapshot of, for the message of an
-- export that names none of them.
SELECT DISTINCT project FROM ampersand.sync_runs
WHERE status = 'succeeded' AND NOT dry_run
ORDER BY project
LIMIT 20
