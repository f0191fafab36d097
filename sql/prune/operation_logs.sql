-- Deletes the operation log entries of project $1 logged before $2 (or, without a
-- timestamp, read before it). Returns how many went.
WITH gone AS (
    DELETE FROM ampersand.operation_logs
    WHERE project_id = $1 AND coalesce(logged_at, first_seen_at) < $2
    RETURNING 1
)
SELECT count(*) FROM gone
