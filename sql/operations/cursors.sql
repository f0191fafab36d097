-- Records the read of each installation of $2 (a JSON array) for project $1, run $3
-- observed at $4: a complete read moves the cursor and last_read_at; a failed one
-- records its error; both count as an attempt.
INSERT INTO ampersand.operation_cursors AS c
    (project_id, installation_id, integration_id, newest_create_time, newest_ids,
     last_read_at, last_attempt_at, reads, last_error, last_error_at, sync_run_id)
SELECT $1, r.installation_id, r.integration_id, r.newest_create_time,
       coalesce(r.newest_ids, '{}'),
       CASE WHEN r.error IS NULL THEN $4::timestamptz END, $4, CASE WHEN r.error IS NULL THEN 1 ELSE 0 END,
       r.error, CASE WHEN r.error IS NOT NULL THEN $4::timestamptz END, $3
FROM jsonb_to_recordset($2) AS r(installation_id text, integration_id text,
                                 newest_create_time timestamptz, newest_ids text[], error text)
ON CONFLICT (project_id, installation_id) DO UPDATE SET
    integration_id     = EXCLUDED.integration_id,
    newest_create_time = CASE WHEN EXCLUDED.last_error IS NULL THEN EXCLUDED.newest_create_time ELSE c.newest_create_time END,
    newest_ids         = CASE WHEN EXCLUDED.last_error IS NULL THEN EXCLUDED.newest_ids ELSE c.newest_ids END,
    last_read_at       = coalesce(EXCLUDED.last_read_at, c.last_read_at),
    last_attempt_at    = EXCLUDED.last_attempt_at,
    reads              = c.reads + EXCLUDED.reads,
    last_error         = EXCLUDED.last_error,
    last_error_at      = coalesce(EXCLUDED.last_error_at, c.last_error_at),
    sync_run_id        = EXCLUDED.sync_run_id
