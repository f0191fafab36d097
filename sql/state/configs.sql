-- A config belongs to the group of its installation.
SELECT ARRAY[c.id], c.content_hash, c.row_hash, c.deleted_at IS NOT NULL,
       $2::text IS NULL OR i.group_ref = $2
FROM ampersand.configs AS c
LEFT JOIN ampersand.installations AS i ON i.id = c.installation_id
WHERE c.project_id = $1
