SELECT pg_advisory_unlock(hashtextextended('ampsync:' || $1, 0))
