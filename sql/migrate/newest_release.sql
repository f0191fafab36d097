-- The newest ampsync release that recorded a run in this database, by its version
-- numbers: a release newer than this binary that migrated the database usually ran
-- too. None when no version reads as major.minor.patch.
SELECT tool_version FROM ampersand.sync_runs
WHERE tool_version ~ '^[0-9]+\.[0-9]+\.[0-9]+'
GROUP BY tool_version
ORDER BY string_to_array(substring(tool_version FROM '^[0-9]+\.[0-9]+\.[0-9]+'), '.')::int[] DESC
LIMIT 1
