-- Empties the plan, to plan again (after rejecting records: see src/apply.rs).
TRUNCATE pg_temp.ampsync_plan
