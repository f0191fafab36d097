-- Operations of project $1 whose logs no sync has read yet: failed ones ($2 = 'failed')
-- or every finished one ($2 = 'all'), created since $3 (the retention window; null:
-- unknown), of installations of group $4 when given; newest first, at most $5.
SELECT o.id, o.installation_id
FROM ampersand.operations AS o
WHERE o.project_id = $1
  AND CASE $2 WHEN 'all' THEN o.status IS DISTINCT FROM 'in_progress' ELSE o.status = 'failure' END
  AND ($3::timestamptz IS NULL OR o.create_time >= $3)
  AND ($4::text IS NULL OR o.installation_id IN (SELECT i.id FROM ampersand.installations AS i
                                                 WHERE i.project_id = $1 AND i.group_ref = $4))
  AND NOT EXISTS (SELECT FROM ampersand.operation_log_reads AS r
                  WHERE r.project_id = o.project_id AND r.operation_id = o.id)
ORDER BY o.create_time DESC NULLS LAST, o.id
LIMIT $5
