-- Consumers may own connections in many groups: only a full sync deletes them.
SELECT ARRAY[project_id, consumer_ref], content_hash, row_hash, deleted_at IS NOT NULL,
       $2::text IS NULL
FROM ampersand.consumers WHERE project_id = $1
