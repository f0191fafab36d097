SELECT ARRAY[project_id, group_ref], content_hash, row_hash, deleted_at IS NOT NULL,
       $2::text IS NULL OR group_ref = $2
FROM ampersand.groups WHERE project_id = $1
