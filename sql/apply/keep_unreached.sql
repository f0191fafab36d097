-- Takes back the planned deletions of table $1 (connections, groups, consumers,
-- provider_apps) of rows that no live installation of project $2 reaches, when the run
-- did not read the list that could show them (see src/catalog.rs, List). Reached, in
-- the stored state the run started from: a live installation's connection and group,
-- and that connection's group, consumer and provider app. So a run without the list
-- deletes what installations alone would have deleted, and nothing only a list showed.
-- Only the branches of table $1 run. NOT IN over the reached keys (nulls left out) runs
-- as one hashed subplan, whatever the planner guesses of the unanalyzed plan table;
-- each branch reads the tables themselves, whose statistics give hash joins.
WITH reached (k1, k2) AS (
    SELECT i.connection_id, ''
    FROM ampersand.installations AS i
    WHERE $1 = 'connections' AND i.project_id = $2 AND i.deleted_at IS NULL
    UNION ALL
    SELECT $2, i.group_ref
    FROM ampersand.installations AS i
    WHERE $1 = 'groups' AND i.project_id = $2 AND i.deleted_at IS NULL
    UNION ALL
    SELECT CASE $1 WHEN 'provider_apps' THEN c.provider_app_id ELSE $2 END,
           CASE $1 WHEN 'groups' THEN c.group_ref WHEN 'consumers' THEN c.consumer_ref ELSE '' END
    FROM ampersand.installations AS i
    JOIN ampersand.connections AS c ON c.id = i.connection_id
    WHERE $1 IN ('provider_apps', 'groups', 'consumers') AND i.project_id = $2 AND i.deleted_at IS NULL
)
DELETE FROM pg_temp.ampsync_plan AS p
WHERE p.tbl = $1 AND p.change = 'delete'
  AND (p.k1, coalesce(p.k2, '')) NOT IN (SELECT k1, k2 FROM reached
                                         WHERE k1 IS NOT NULL AND k2 IS NOT NULL)
