-- Unhealthy installations by integration: which integrations have live installations
-- that are not healthy, how many, and for which groups. Health comes from the latest
-- sync; anything other than 'healthy' counts (unhealthy, or a value the API added).
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/unhealthy_installations_by_integration.sql
--
-- Columns:
--   project_id               the project
--   integration_id           the integration
--   integration_name         its name
--   provider                 the provider it connects to
--   live_installations       live installations of the integration
--   unhealthy_installations  of those, how many are not healthy
--   failed_last_operation    of those, how many had their last operation fail
--   unhealthy_groups         names of the groups with an unhealthy installation
SELECT project_id,
       integration_id,
       integration_name,
       provider,
       count(*) AS live_installations,
       count(*) FILTER (WHERE health_status IS DISTINCT FROM 'healthy') AS unhealthy_installations,
       count(*) FILTER (WHERE health_status IS DISTINCT FROM 'healthy'
                          AND last_operation_status = 'failure') AS failed_last_operation,
       array_agg(DISTINCT coalesce(group_name, group_ref) ORDER BY coalesce(group_name, group_ref))
           FILTER (WHERE health_status IS DISTINCT FROM 'healthy') AS unhealthy_groups
FROM ampersand.installation_overview
GROUP BY project_id, integration_id, integration_name, provider
HAVING count(*) FILTER (WHERE health_status IS DISTINCT FROM 'healthy') > 0
ORDER BY unhealthy_installations DESC, integration_name;
