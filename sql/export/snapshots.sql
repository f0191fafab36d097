-- The observed times of the first and the newest snapshot applied to project $1 (both
-- null when none was): what `ampsync export` can answer for.
SELECT min(observed_at), max(observed_at) FROM ampersand.sync_runs
WHERE project = $1 AND status = 'succeeded' AND NOT dry_run
