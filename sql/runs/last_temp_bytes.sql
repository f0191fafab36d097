-- The temporary files of project $1's latest whole-project run that applied a snapshot
-- (a --group-ref run's are smaller): what `ampsync check` holds TMPDIR's free space to.
SELECT id, temp_bytes FROM ampersand.sync_runs
WHERE project = $1 AND status = 'succeeded' AND group_ref IS NULL AND temp_bytes IS NOT NULL
ORDER BY id DESC
LIMIT 1
