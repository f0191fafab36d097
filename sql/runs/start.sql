-- Records a run as it starts, outside the apply transaction, so that a run that dies
-- leaves a `running` row for the next run to mark `abandoned`.
INSERT INTO ampersand.sync_runs (command, project, group_ref, dry_run, observed_at, tool_version, host, pid)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
