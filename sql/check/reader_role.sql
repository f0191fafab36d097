-- Whether the reader role $1 exists (sql/roles.sql makes it).
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)
