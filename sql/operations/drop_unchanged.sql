-- Staged operations stored as they are now: they write nothing.
DELETE FROM pg_temp.ampsync_stage WHERE change IS NULL
