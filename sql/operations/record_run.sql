-- What run $1 did about operations: $2 its summary, $3 the operations table's counts
-- (added to the run's counts and row totals).
UPDATE ampersand.sync_runs
SET operations = $2,
    counts = counts || jsonb_build_object('operations', $3::jsonb),
    rows_inserted = rows_inserted + ($3::jsonb ->> 'inserted')::bigint,
    rows_updated = rows_updated + ($3::jsonb ->> 'updated')::bigint
WHERE id = $1
