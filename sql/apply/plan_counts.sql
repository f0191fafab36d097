-- What the plan writes, per table and change.
SELECT tbl, change, count(*)::bigint FROM pg_temp.ampsync_plan GROUP BY tbl, change
