-- The latest successful run of project $1, and the fingerprint of its snapshot when
-- that run applied it whole (nothing rejected, no deletion skipped). A snapshot with the
-- same fingerprint would change nothing.
SELECT id, CASE WHEN rejected = 0 AND deletions_skipped_reason IS NULL THEN snapshot END
FROM ampersand.sync_runs
WHERE project = $1 AND status = 'succeeded'
ORDER BY id DESC
LIMIT 1
