-- Records the source objects a run could not read. $2 is a JSON array of
-- {source, position, reason, payload}, payloads already scrubbed of secrets.
INSERT INTO ampersand.rejected_records (sync_run_id, source, position, reason, payload)
SELECT $1, r.source, r.position, r.reason, r.payload
FROM jsonb_to_recordset($2) AS r (source text, position bigint, reason text, payload jsonb)
