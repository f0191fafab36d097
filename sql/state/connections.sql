SELECT ARRAY[id], content_hash, row_hash, deleted_at IS NOT NULL,
       $2::text IS NULL OR group_ref = $2
FROM ampersand.connections WHERE project_id = $1
