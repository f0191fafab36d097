-- How much temporary disk a run's snapshot took (issue 23): `ampsync check` compares the
-- free space in TMPDIR with it before the next run, since a project's snapshots grow
-- slowly and the next run needs about as much.

ALTER TABLE ampersand.sync_runs ADD COLUMN IF NOT EXISTS temp_bytes bigint;

COMMENT ON COLUMN ampersand.sync_runs.temp_bytes IS 'Bytes of temporary files (in TMPDIR) the run''s snapshot used: about 0.84 times the installations response. Null for runs that applied no snapshot, and for runs of releases before 0.4.0.';
