-- Installations of project $1 (or of all: null) whose last operations read failed,
-- newest failure first, at most $2.
SELECT project_id AS project, installation_id, last_error_at AS failed_at, last_error AS error
FROM ampersand.operation_cursors
WHERE last_error IS NOT NULL AND ($1::text IS NULL OR project_id = $1)
ORDER BY last_error_at DESC NULLS LAST, installation_id
LIMIT $2
