-- Staged operations never stored: inserts.
UPDATE pg_temp.ampsync_stage AS s SET change = 'insert'
WHERE NOT EXISTS (SELECT FROM ampersand.operations AS o
                  WHERE o.project_id = s.project_id AND o.id = s.id)
