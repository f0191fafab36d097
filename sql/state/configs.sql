-- Plans table configs: the winning copy of each key in the snapshot (latest updateTime,
-- then greatest row hash, whatever the order of the response) against what project $1
-- has stored. Writes to pg_temp.ampsync_plan what to insert, restore, update (content
-- changed), touch (token times alone changed) and delete (within the synced group: a config belongs to the group of its installation). $2 is the
-- group of a group sync (null: all); $3 whether the snapshot covers the whole table.
-- Returns the number of distinct keys in the snapshot.
WITH n AS (
    SELECT DISTINCT ON (k1 COLLATE "C") k1, k2, content_hash, row_hash, pos, len
    FROM pg_temp.ampsync_snapshot
    WHERE tbl = 'configs'
    ORDER BY k1 COLLATE "C", update_ns DESC NULLS LAST, row_hash COLLATE "C" DESC
), planned AS (
    INSERT INTO pg_temp.ampsync_plan (tbl, change, pos, len, k1, k2)
    SELECT 'configs',
           CASE WHEN s.id IS NULL THEN 'insert'
                WHEN n.k1 IS NULL THEN 'delete'
                WHEN s.deleted_at IS NOT NULL THEN 'restore'
                WHEN s.content_hash <> n.content_hash THEN 'update'
                ELSE 'touch' END,
           n.pos, n.len, coalesce(n.k1, s.id), NULL
    FROM n
    FULL JOIN (SELECT c.id, c.content_hash, c.row_hash, c.deleted_at,
                      coalesce($2::text IS NULL OR i.group_ref = $2, false) AS deletable
               FROM ampersand.configs AS c
               -- (only a group sync needs the installation's group)
               LEFT JOIN ampersand.installations AS i
                      ON $2::text IS NOT NULL AND i.id = c.installation_id
               WHERE c.project_id = $1) AS s ON s.id = n.k1
    WHERE CASE WHEN n.k1 IS NULL THEN $3 AND s.deleted_at IS NULL AND s.deletable
               WHEN s.id IS NULL THEN true
               ELSE s.deleted_at IS NOT NULL OR s.row_hash <> n.row_hash END
    RETURNING 1
)
SELECT (SELECT count(*) FROM n)
