-- What the database holds for a project, to compare with a snapshot: key, hashes,
-- whether the row is deleted, and whether a sync of group $2 (null: all) may delete
-- it. The project itself is never deleted: it answered the request.
SELECT ARRAY[id], content_hash, row_hash, deleted_at IS NOT NULL, false AND $2::text IS NULL
FROM ampersand.projects WHERE id = $1
