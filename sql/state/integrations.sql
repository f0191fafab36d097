-- Integrations come from their own endpoint, complete even in a group sync.
SELECT ARRAY[id], content_hash, row_hash, deleted_at IS NOT NULL, true OR $2::text IS NULL
FROM ampersand.integrations WHERE project_id = $1
