-- Two jobs migrating at once take turns applying sql/functions/ (concurrent CREATE OR
-- REPLACE of one function fails); held until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('ampsync:functions', 0))
