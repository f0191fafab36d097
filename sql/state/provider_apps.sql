-- Provider apps serve every group: only a full sync deletes them.
SELECT ARRAY[id], content_hash, row_hash, deleted_at IS NOT NULL, $2::text IS NULL
FROM ampersand.provider_apps WHERE project_id = $1
