-- How many installations of project $1 (or of all: null) had their last operations read fail.
SELECT count(*) FROM ampersand.operation_cursors
WHERE last_error IS NOT NULL AND ($1::text IS NULL OR project_id = $1)
