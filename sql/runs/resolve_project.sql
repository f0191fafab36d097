-- A project named on the command line, by id or by name, as an earlier sync stored it.
SELECT id FROM ampersand.projects WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1
