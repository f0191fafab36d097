-- Whether a snapshot observed at exactly $2 was already applied to project $1.
SELECT EXISTS (
    SELECT 1 FROM ampersand.sync_runs
    WHERE project = $1 AND observed_at = $2 AND status = 'succeeded' AND NOT dry_run
)
