-- Takes back the planned deletions of table $1 (connections, groups, consumers,
-- provider_apps) of rows that no live installation of project $2 reaches (see
-- sql/functions/reached_keys.sql), when the run did not read the list that could show
-- them (see src/catalog.rs, List). So a run without the list deletes what installations
-- alone would have deleted, and nothing only a list showed. NOT IN over the reached
-- keys runs as one hashed subplan, whatever the planner guesses of the unanalyzed plan
-- table.
DELETE FROM pg_temp.ampsync_plan AS p
WHERE p.tbl = $1 AND p.change = 'delete'
  AND (p.k1, coalesce(p.k2, '')) NOT IN (SELECT k1, k2 FROM ampersand.reached_keys($1, $2))
