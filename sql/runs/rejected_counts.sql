-- Records how many source objects a run rejected, and how many of those were stored
-- without their payload, for a run that fails because none of its records could be
-- read (a succeeding run records them in succeeded.sql).
UPDATE ampersand.sync_runs
SET rejected = $2, rejected_without_payload = $3
WHERE id = $1
