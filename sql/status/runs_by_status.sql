-- How many runs the ledger holds per project and outcome.
SELECT project, status, count(*) AS runs
FROM ampersand.sync_runs
WHERE $1::text IS NULL OR project = $1
GROUP BY project, status
ORDER BY project, status
