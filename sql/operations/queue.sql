-- The live installations of project $1 (of group $3 when given) whose operations a
-- sync may read, with what decides their turn: urgent when run $2 saw its health or
-- lastOperationStatus change (or saw it first), when it has operations stored as
-- in_progress, or when it was never attempted; then the longest since attempted. The
-- changed and the open come first among the urgent: while a large project is still
-- being read for the first time, its never-read installations would otherwise crowd
-- out the ones the snapshot says just did something.
WITH changed AS (
    SELECT h.id
    FROM ampersand.installations_history AS h
    LEFT JOIN ampersand.installations_history AS p
      ON p.id = h.id AND p.valid_to = h.valid_from
    WHERE h.project_id = $1 AND h.sync_run_id = $2 AND h.change <> 'delete'
      AND (p.id IS NULL
           OR p.health_status IS DISTINCT FROM h.health_status
           OR p.last_operation_status IS DISTINCT FROM h.last_operation_status)
), open AS (
    SELECT DISTINCT o.installation_id AS id
    FROM ampersand.operations AS o
    WHERE o.project_id = $1 AND o.status = 'in_progress'
)
SELECT i.id AS installation_id,
       i.integration_id,
       (i.id IN (SELECT id FROM changed) OR i.id IN (SELECT id FROM open)
        OR c.installation_id IS NULL) AS urgent,
       i.id IN (SELECT id FROM open) AS has_open,
       c.newest_create_time,
       coalesce(c.newest_ids, '{}') AS newest_ids,
       coalesce(c.reads, 0) AS reads,
       c.last_attempt_at
FROM ampersand.installations AS i
LEFT JOIN ampersand.operation_cursors AS c
  ON c.project_id = i.project_id AND c.installation_id = i.id
WHERE i.project_id = $1 AND i.deleted_at IS NULL AND i.integration_id IS NOT NULL
  AND ($3::text IS NULL OR i.group_ref = $3)
ORDER BY (i.id IN (SELECT id FROM changed) OR i.id IN (SELECT id FROM open)) DESC,
         c.last_attempt_at NULLS FIRST, i.id
