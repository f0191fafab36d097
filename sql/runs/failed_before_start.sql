-- A run that failed before it could take the project's lock (the API refused the
-- project, say), recorded already closed so that `ampsync status` reports it. The
-- project is its stored id when an earlier sync stored it under this id or name.
INSERT INTO ampersand.sync_runs
    (command, project, group_ref, observed_at, status, finished_at, error, tool_version, host, pid)
VALUES (
    $1,
    coalesce((SELECT id FROM ampersand.projects WHERE id = $2 OR name = $2
              ORDER BY (id = $2) DESC LIMIT 1), $2),
    $3, clock_timestamp(), 'failed', clock_timestamp(), $4, $5, $6, $7)
RETURNING id
