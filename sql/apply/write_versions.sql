SELECT ampersand.write_versions($1, $2, $3, $4::jsonb)
