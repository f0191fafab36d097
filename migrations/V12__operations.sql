-- Operations (issue 22): what every installation did (each read, write and subscribe
-- Ampersand records), with history, their logs, and the per-installation cursor that
-- lets a sync read them incrementally. Written by src/operations/; no existing table
-- changes, so an upgrade writes no history for objects that did not change.
-- IF NOT EXISTS / OR REPLACE throughout: tests that rebuild an older database re-run it
-- (tests/api/upgrade.rs, tests/api/columns.rs).

-- One row per operation, keyed by project and id, from
-- GET /projects/{p}/integrations/{i}/installations/{inst}/operations. Like every synced
-- table it has content_hash / row_hash and a history table, so the writer functions
-- (prepare_stage, merge_stage, prune_history) take it; no snapshot covers it whole, so
-- no run ever deletes an operation.
CREATE TABLE IF NOT EXISTS ampersand.operations (
    project_id              text NOT NULL,
    id                      text NOT NULL,
    integration_id          text,
    installation_id         text,
    config_id               text,
    action_type             text,
    status                  text,
    result                  text,
    create_time             timestamptz,
    objects                 text[],
    retry_attempts          bigint,
    retry_last_attempt      timestamptz,
    retry_last_notified     timestamptz,
    records_processed       bigint,
    records_estimated_total bigint,
    successful_record_count bigint,
    successful_record_ids   text[],
    metadata                jsonb,
    extra                   jsonb NOT NULL DEFAULT '{}',
    content_hash            text NOT NULL,
    row_hash                text NOT NULL,
    first_seen_at           timestamptz NOT NULL,
    changed_at              timestamptz NOT NULL,
    deleted_at              timestamptz,
    sync_run_id             bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX IF NOT EXISTS operations_installation_idx ON ampersand.operations (installation_id, create_time DESC);
CREATE INDEX IF NOT EXISTS operations_open_idx ON ampersand.operations (project_id, installation_id) WHERE status = 'in_progress';

CREATE TABLE IF NOT EXISTS ampersand.operations_history (
    LIKE ampersand.operations,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    change     text NOT NULL CHECK (change IN ('insert', 'update', 'delete')),
    PRIMARY KEY (project_id, id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS operations_history_open_idx ON ampersand.operations_history (project_id, id) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS operations_history_valid_idx ON ampersand.operations_history (valid_from, valid_to);

CREATE OR REPLACE FUNCTION ampersand.operations_as_of(p_at timestamptz) RETURNS SETOF ampersand.operations_history
LANGUAGE sql STABLE AS $$
    SELECT * FROM ampersand.operations_history
    WHERE valid_from <= p_at AND (valid_to IS NULL OR valid_to > p_at) AND change <> 'delete'
$$;

-- Log entries of operations (GET /projects/{p}/operations/{id}/logs), append-only:
-- entry_hash is the hash of the scrubbed entry, so reading the same logs again adds
-- nothing, and two identical lines of one operation are one row.
CREATE TABLE IF NOT EXISTS ampersand.operation_logs (
    project_id      text NOT NULL,
    operation_id    text NOT NULL,
    entry_hash      text NOT NULL,
    installation_id text,
    logged_at       timestamptz,
    severity        text,
    message         text,
    error           text,
    details         jsonb,
    extra           jsonb NOT NULL DEFAULT '{}',
    first_seen_at   timestamptz NOT NULL,
    sync_run_id     bigint NOT NULL,
    PRIMARY KEY (project_id, operation_id, entry_hash)
);
CREATE INDEX IF NOT EXISTS operation_logs_time_idx ON ampersand.operation_logs (project_id, logged_at);

-- Which operations' logs a sync has read (or could not read), so each is read once.
CREATE TABLE IF NOT EXISTS ampersand.operation_log_reads (
    project_id   text NOT NULL,
    operation_id text NOT NULL,
    read_at      timestamptz NOT NULL,
    entries      bigint NOT NULL,
    error        text,
    sync_run_id  bigint NOT NULL,
    PRIMARY KEY (project_id, operation_id)
);

-- Per installation: where the last complete read of its operations got to, and when
-- each was last read. Committed with the rows it describes.
CREATE TABLE IF NOT EXISTS ampersand.operation_cursors (
    project_id         text NOT NULL,
    installation_id    text NOT NULL,
    integration_id     text,
    newest_create_time timestamptz,
    newest_ids         text[] NOT NULL DEFAULT '{}',
    last_read_at       timestamptz,
    last_attempt_at    timestamptz NOT NULL,
    reads              bigint NOT NULL DEFAULT 0,
    last_error         text,
    last_error_at      timestamptz,
    sync_run_id        bigint NOT NULL,
    PRIMARY KEY (project_id, installation_id)
);
CREATE INDEX IF NOT EXISTS operation_cursors_read_idx ON ampersand.operation_cursors (project_id, last_read_at NULLS FIRST);

-- What a sync did about operations: {"mode", "installations_read", "installations_left",
-- "installations_failed", "requests", "logs_read", "stopped"}; null when it read none.
ALTER TABLE ampersand.sync_runs ADD COLUMN IF NOT EXISTS operations jsonb;

COMMENT ON TABLE ampersand.operations IS 'Operations: each read, write or subscribe Ampersand ran for an installation (GET /projects/{p}/integrations/{i}/installations/{id}/operations), with history: in_progress -> failure is a version. Never deleted by a sync.';
COMMENT ON COLUMN ampersand.operations.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operations.id IS 'Operation id.';
COMMENT ON COLUMN ampersand.operations.integration_id IS 'The integration (integrations.id).';
COMMENT ON COLUMN ampersand.operations.installation_id IS 'The installation it ran for (installations.id).';
COMMENT ON COLUMN ampersand.operations.config_id IS 'The config it ran with (configs.id).';
COMMENT ON COLUMN ampersand.operations.action_type IS 'read, write or subscribe, as the API sends it.';
COMMENT ON COLUMN ampersand.operations.status IS 'success, failure or in_progress, as the API sends it.';
COMMENT ON COLUMN ampersand.operations.result IS 'Human-readable summary (e.g. "[contact] No new data found"), secret-shaped words redacted.';
COMMENT ON COLUMN ampersand.operations.create_time IS 'When the operation was created (createTime).';
COMMENT ON COLUMN ampersand.operations.objects IS 'The objects it touched (metadata.objects).';
COMMENT ON COLUMN ampersand.operations.retry_attempts IS 'metadata.retry.attempts.';
COMMENT ON COLUMN ampersand.operations.retry_last_attempt IS 'metadata.retry.lastAttempt.';
COMMENT ON COLUMN ampersand.operations.retry_last_notified IS 'metadata.retry.lastNotified.';
COMMENT ON COLUMN ampersand.operations.records_processed IS 'Records read so far (metadata.progress.recordsProcessed).';
COMMENT ON COLUMN ampersand.operations.records_estimated_total IS 'Estimated records to read, for some providers (metadata.progress.recordsEstimatedTotal).';
COMMENT ON COLUMN ampersand.operations.successful_record_count IS 'How many record ids metadata.successfulRecordIds held (writes).';
COMMENT ON COLUMN ampersand.operations.successful_record_ids IS 'metadata.successfulRecordIds itself: null unless sync ran with --operation-record-ids.';
COMMENT ON COLUMN ampersand.operations.metadata IS 'The whole metadata object, scrubbed of secrets, without successfulRecordIds (see successful_record_ids).';
COMMENT ON COLUMN ampersand.operations.extra IS 'Fields of the operation the columns do not model, scrubbed of secrets.';
COMMENT ON FUNCTION ampersand.operations_as_of(timestamptz) IS 'The operations as they were at the given time.';
COMMENT ON TABLE ampersand.operation_logs IS 'Log entries of operations (GET /projects/{p}/operations/{id}/logs), by default of failed ones within the project''s log retention. Append-only: a re-read adds nothing.';
COMMENT ON COLUMN ampersand.operation_logs.entry_hash IS 'Hash of the scrubbed entry: its key within the operation.';
COMMENT ON COLUMN ampersand.operation_logs.logged_at IS 'The entry''s timestamp.';
COMMENT ON COLUMN ampersand.operation_logs.severity IS 'DEBUG, INFO, WARN, ERROR…, as the API sends it.';
COMMENT ON COLUMN ampersand.operation_logs.message IS 'message.msg, secret-shaped words redacted.';
COMMENT ON COLUMN ampersand.operation_logs.error IS 'message.error, secret-shaped words redacted.';
COMMENT ON COLUMN ampersand.operation_logs.details IS 'message.details, scrubbed of secrets.';
COMMENT ON COLUMN ampersand.operation_logs.extra IS 'The other fields of the entry and of its message, scrubbed of secrets.';
COMMENT ON TABLE ampersand.operation_log_reads IS 'Internal bookkeeping of ampsync: whose logs a sync read, how many entries, or why it could not.';
COMMENT ON TABLE ampersand.operation_cursors IS 'Per installation: the newest createTime of its operations a complete read saw, the ids at that time, when it was last read, and its last error (shown by ampsync status).';
COMMENT ON COLUMN ampersand.operation_cursors.last_read_at IS 'Observed time of the last sync that read its operations completely (null: never).';
COMMENT ON COLUMN ampersand.operation_cursors.last_error IS 'Why the last attempt failed (404 for a deleted installation, 5xx after retries); null after a read that succeeded.';
COMMENT ON COLUMN ampersand.sync_runs.operations IS 'What the sync did about operations: installations read, left for later runs and failed, requests sent, logs read; null when it read none.';
COMMENT ON COLUMN ampersand.operations.content_hash IS 'Hash of the operation as stored (scrubbed; successfulRecordIds as their count unless kept): what ampsync compares to tell whether it changed.';
COMMENT ON COLUMN ampersand.operations.row_hash IS 'Equal to content_hash: no field of an operation moves on its own.';
COMMENT ON COLUMN ampersand.operations.first_seen_at IS 'Observed time of the sync that first read it.';
COMMENT ON COLUMN ampersand.operations.changed_at IS 'Observed time of the sync that last saw it change.';
COMMENT ON COLUMN ampersand.operations.deleted_at IS 'Always null: a sync never deletes an operation.';
COMMENT ON COLUMN ampersand.operations.sync_run_id IS 'The run that last changed the row (sync_runs.id).';
COMMENT ON COLUMN ampersand.operation_logs.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operation_logs.operation_id IS 'The operation (operations.id).';
COMMENT ON COLUMN ampersand.operation_logs.installation_id IS 'The operation''s installation (installations.id).';
COMMENT ON COLUMN ampersand.operation_logs.first_seen_at IS 'Observed time of the sync that read the entry.';
COMMENT ON COLUMN ampersand.operation_logs.sync_run_id IS 'The run that read the entry (sync_runs.id).';
COMMENT ON COLUMN ampersand.operation_log_reads.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operation_log_reads.operation_id IS 'The operation whose logs were read (operations.id).';
COMMENT ON COLUMN ampersand.operation_log_reads.read_at IS 'Observed time of the sync that read them.';
COMMENT ON COLUMN ampersand.operation_log_reads.entries IS 'How many entries the API answered.';
COMMENT ON COLUMN ampersand.operation_log_reads.error IS 'Why there were none to read (a 404: expired or gone); null when read.';
COMMENT ON COLUMN ampersand.operation_log_reads.sync_run_id IS 'The run that read them (sync_runs.id).';
COMMENT ON COLUMN ampersand.operation_cursors.project_id IS 'The project (projects.id).';
COMMENT ON COLUMN ampersand.operation_cursors.installation_id IS 'The installation (installations.id).';
COMMENT ON COLUMN ampersand.operation_cursors.integration_id IS 'Its integration (integrations.id), the other half of the list''s path.';
COMMENT ON COLUMN ampersand.operation_cursors.newest_create_time IS 'The newest createTime a complete read saw.';
COMMENT ON COLUMN ampersand.operation_cursors.newest_ids IS 'The ids of the operations created at newest_create_time (bounded): one created then with another id is new.';
COMMENT ON COLUMN ampersand.operation_cursors.last_attempt_at IS 'Observed time of the last sync that tried to read it (its place in the rotation).';
COMMENT ON COLUMN ampersand.operation_cursors.reads IS 'Complete reads so far.';
COMMENT ON COLUMN ampersand.operation_cursors.last_error_at IS 'Observed time of the last failed attempt.';
COMMENT ON COLUMN ampersand.operation_cursors.sync_run_id IS 'The run that last tried to read it (sync_runs.id).';

-- The history table's columns say what the table's say, as V4 did for the others.
DO $$
DECLARE
    col record;
BEGIN
    EXECUTE format('COMMENT ON TABLE ampersand.operations_history IS %L',
        'Every version of every operation: one row per version, valid from valid_from until valid_to (null: the current version). Read with ampersand.operations_as_of(time).');
    FOR col IN
        SELECT a.attname::text AS name, col_description(a.attrelid, a.attnum) AS text
        FROM pg_attribute AS a
        WHERE a.attrelid = 'ampersand.operations'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format('COMMENT ON COLUMN ampersand.operations_history.%I IS %L', col.name,
            CASE col.name
                WHEN 'sync_run_id' THEN 'The run that wrote this version (sync_runs.id).'
                WHEN 'changed_at' THEN 'Observed time this version was written (equals valid_from).'
                ELSE col.text
            END);
    END LOOP;
    COMMENT ON COLUMN ampersand.operations_history.valid_from IS 'Observed time from which this version holds (the sync that read it).';
    COMMENT ON COLUMN ampersand.operations_history.valid_to IS 'Observed time the next version replaced it; null for the current version.';
    COMMENT ON COLUMN ampersand.operations_history.change IS 'What opened this version: insert (first read) or update (it changed: in_progress -> failure, say).';
END $$;
