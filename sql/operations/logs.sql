-- Log entries ($2: a JSON array of rows) of run $1 observed at $3; an entry stored
-- before (same operation, same hash) adds nothing. Returns how many were added.
WITH added AS (
    INSERT INTO ampersand.operation_logs
        (project_id, operation_id, entry_hash, installation_id, logged_at, severity,
         message, error, details, extra, first_seen_at, sync_run_id)
    SELECT r.project_id, r.operation_id, r.entry_hash, r.installation_id, r.logged_at,
           r.severity, r.message, r.error, r.details, coalesce(r.extra, '{}'), $3, $1
    FROM jsonb_to_recordset($2) AS r(project_id text, operation_id text, entry_hash text,
        installation_id text, logged_at timestamptz, severity text, message text,
        error text, details jsonb, extra jsonb)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added
