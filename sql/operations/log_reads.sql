-- Which operations' logs run $2 of project $1 read ($3: [{operation_id, entries,
-- error}]) at $4: none of them is read again.
INSERT INTO ampersand.operation_log_reads AS l (project_id, operation_id, read_at, entries, error, sync_run_id)
SELECT $1, r.operation_id, $4, r.entries, r.error, $2
FROM jsonb_to_recordset($3) AS r(operation_id text, entries bigint, error text)
ON CONFLICT (project_id, operation_id) DO UPDATE SET
    read_at = EXCLUDED.read_at, entries = EXCLUDED.entries, error = EXCLUDED.error,
    sync_run_id = EXCLUDED.sync_run_id
