-- Takes back the planned deletions of table $1 (connections, groups, consumers,
-- provider_apps) of rows that no live installation of project $2 reaches, when the run
-- did not read the list that could show them (see src/catalog.rs, List). Reached, in
-- the stored state the run started from: a live installation's connection and group,
-- and that connection's group, consumer and provider app. So a run without the list
-- deletes what installations alone would have deleted, and nothing only a list showed.
WITH live AS (
    SELECT connection_id, group_ref
    FROM ampersand.installations
    WHERE project_id = $2 AND deleted_at IS NULL
), used AS (
    SELECT c.group_ref, c.consumer_ref, c.provider_app_id
    FROM ampersand.connections AS c
    WHERE c.id IN (SELECT connection_id FROM live)
), reached (k1, k2) AS (
    SELECT connection_id, '' FROM live WHERE $1 = 'connections'
    UNION SELECT provider_app_id, '' FROM used WHERE $1 = 'provider_apps'
    UNION SELECT $2, group_ref FROM live WHERE $1 = 'groups'
    UNION SELECT $2, group_ref FROM used WHERE $1 = 'groups'
    UNION SELECT $2, consumer_ref FROM used WHERE $1 = 'consumers'
)
DELETE FROM pg_temp.ampsync_plan AS p
WHERE p.tbl = $1 AND p.change = 'delete'
  AND NOT EXISTS (SELECT 1 FROM reached AS r
                  WHERE r.k1 = p.k1 AND r.k2 = coalesce(p.k2, ''))
