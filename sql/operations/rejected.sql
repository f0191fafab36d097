-- Operations run $1 could not store ($2: a JSON array of {position, reason, payload}),
-- beside the snapshot's own rejected records, and counted on the run.
WITH added AS (
    INSERT INTO ampersand.rejected_records (sync_run_id, source, position, reason, payload)
    SELECT $1, 'operations', r.position, r.reason, r.payload
    FROM jsonb_to_recordset($2) AS r(position bigint, reason text, payload jsonb)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE ampersand.sync_runs SET rejected = rejected + (SELECT count(*) FROM added) WHERE id = $1
