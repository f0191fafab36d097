-- Live and deleted rows per table, for one project ($1) or all (null).
SELECT 'projects' AS table_name, count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM ampersand.projects WHERE $1::text IS NULL OR id = $1
UNION ALL SELECT 'integrations', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.integrations WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'groups', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.groups WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'consumers', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.consumers WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'provider_apps', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.provider_apps WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'connections', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.connections WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'configs', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.configs WHERE $1::text IS NULL OR project_id = $1
UNION ALL SELECT 'installations', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ampersand.installations WHERE $1::text IS NULL OR project_id = $1
