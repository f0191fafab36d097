-- Whether a table exists ($1, as the search path finds it): refinery's history table
-- before the first migration, `ampersand.sync_runs` before V1.
SELECT to_regclass($1) IS NOT NULL
