-- One run per project at a time: a session-level advisory lock keyed by the project id.
SELECT pg_try_advisory_lock(hashtextextended('ampsync:' || $1, 0))
