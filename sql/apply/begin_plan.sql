-- Creates (or empties) the run's temporary tables ampsync_snapshot and ampsync_plan.
SELECT ampersand.begin_plan()
