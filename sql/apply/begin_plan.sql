-- Creates (or empties) the run's temporary tables ampsync_snapshot, partitioned by the
-- synced tables $1 (from src/catalog.rs), and ampsync_plan.
SELECT ampersand.begin_plan($1)
