-- The migrations refinery recorded as applied, oldest first; none when its table does
-- not exist yet (a database never migrated). Read before migrating, and by `check`.
SELECT version, name, checksum FROM ampsync_schema_history ORDER BY version
