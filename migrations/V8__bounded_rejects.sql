-- 0.3.0: rejected records are bounded. Every rejected record keeps its source, position
-- and reason, and sync_runs.rejected stays the exact count; only the first rejected
-- records of a run keep their payload (1,000 of them, or 16 MiB of payload JSON,
-- whichever comes first; see src/rejects.rs), and the run's row says how many did not.
ALTER TABLE ampersand.sync_runs ADD COLUMN rejected_without_payload bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN ampersand.sync_runs.rejected_without_payload IS 'Rejected records of the run stored without their payload (source, position and reason only): a run keeps the payloads of its first 1,000 rejected records (by source, then position), or fewer once they reach 16 MiB of JSON.';
COMMENT ON COLUMN ampersand.sync_runs.rejected IS 'Source objects that could not be read (see rejected_records); the exact count, also when the run failed because none could be read.';
COMMENT ON COLUMN ampersand.rejected_records.payload IS 'The object as received, with every secret field removed; null past the first 1,000 rejected records of its run (or 16 MiB of payloads), see sync_runs.rejected_without_payload.';
