-- Closes a run inside its apply transaction, so the data and the record commit together.
UPDATE ampersand.sync_runs
SET status = 'succeeded', finished_at = clock_timestamp(), counts = $2,
    rows_inserted = $3, rows_updated = $4, rows_deleted = $5,
    rejected = $6, deletions_skipped_reason = $7, rejected_without_payload = $8,
    temp_bytes = $9
WHERE id = $1
