SELECT ampersand.delete_versions($1, $2, $3, $4::jsonb)
