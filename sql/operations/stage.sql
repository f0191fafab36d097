-- The operations of $1 (a JSON array of stage rows) into pg_temp.ampsync_stage, made
-- by ampersand.prepare_stage for the operations' columns.
INSERT INTO pg_temp.ampsync_stage
SELECT * FROM jsonb_populate_recordset(NULL::pg_temp.ampsync_stage, $1)
