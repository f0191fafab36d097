-- The session holding project $1's lock (the advisory lock of sql/runs/try_lock.sql),
-- read from pg_locks without taking the lock: a probe that took it, however briefly,
-- could make a run starting at that moment exit 75. A bigint advisory key shows as
-- classid (its high 32 bits) and objid (its low 32 bits), with objsubid 1.
SELECT l.pid, a.backend_start, a.application_name
FROM pg_locks AS l
LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('ampsync:' || $1, 0)
LIMIT 1
