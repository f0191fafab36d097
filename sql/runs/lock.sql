SELECT pg_advisory_lock(hashtextextended('ampsync:' || $1, 0))
