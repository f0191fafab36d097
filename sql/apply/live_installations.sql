-- Live installations of a project, for the mass-delete guard.
SELECT count(*) FROM ampersand.installations WHERE project_id = $1 AND deleted_at IS NULL
