-- Inserts and updates staged.
SELECT count(*) FILTER (WHERE change = 'insert'), count(*) FILTER (WHERE change = 'update')
FROM pg_temp.ampsync_stage
