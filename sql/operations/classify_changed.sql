-- Staged operations stored with another hash: updates (a version each).
UPDATE pg_temp.ampsync_stage AS s SET change = 'update'
FROM ampersand.operations AS o
WHERE o.project_id = s.project_id AND o.id = s.id AND o.row_hash <> s.row_hash
