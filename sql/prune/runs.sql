-- Deletes the runs of project $1 that started before $2 (and their rejected records),
-- except runs still going, the latest succeeded and the latest failed run, and the
-- succeeded run with the newest observed time (later snapshots are checked against it).
-- Returns how many runs and rejected records went.
WITH keep AS (
    SELECT max(id) FILTER (WHERE status = 'succeeded') AS succeeded,
           max(id) FILTER (WHERE status = 'failed') AS failed,
           (SELECT id FROM ampersand.sync_runs
            WHERE project = $1 AND status = 'succeeded' AND NOT dry_run
            ORDER BY observed_at DESC, id DESC LIMIT 1) AS newest_observed
    FROM ampersand.sync_runs
    WHERE project = $1
), doomed AS (
    SELECT r.id
    FROM ampersand.sync_runs AS r, keep
    WHERE r.project = $1 AND r.started_at < $2 AND r.status <> 'running'
      AND r.id IS DISTINCT FROM keep.succeeded
      AND r.id IS DISTINCT FROM keep.failed
      AND r.id IS DISTINCT FROM keep.newest_observed
), rejected AS (
    DELETE FROM ampersand.rejected_records WHERE sync_run_id IN (SELECT id FROM doomed)
    RETURNING 1
), runs AS (
    DELETE FROM ampersand.sync_runs WHERE id IN (SELECT id FROM doomed)
    RETURNING 1
)
SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM rejected)
