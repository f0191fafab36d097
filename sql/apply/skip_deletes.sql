-- Deletions are due but must not happen (the snapshot may be incomplete).
DELETE FROM pg_temp.ampsync_plan WHERE change = 'delete'
