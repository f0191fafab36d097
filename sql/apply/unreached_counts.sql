-- For the mass-delete guard of table $1 (connections, groups, consumers, provider_apps)
-- of project $2: of its rows that no live installation reaches (see
-- sql/functions/reached_keys.sql), those live now and those the plan deletes. $3 is the
-- group of a group sync, which may delete only that group's connections and groups: its
-- live rows are counted against them.
WITH reached AS (
    SELECT k1, k2 FROM ampersand.reached_keys($1, $2)
), live (k1, k2) AS (
    SELECT c.id, ''
    FROM ampersand.connections AS c
    WHERE $1 = 'connections' AND c.project_id = $2 AND c.deleted_at IS NULL
      AND ($3::text IS NULL OR c.group_ref = $3)
    UNION ALL
    SELECT g.project_id, g.group_ref
    FROM ampersand.groups AS g
    WHERE $1 = 'groups' AND g.project_id = $2 AND g.deleted_at IS NULL
      AND ($3::text IS NULL OR g.group_ref = $3)
    UNION ALL
    SELECT c.project_id, c.consumer_ref
    FROM ampersand.consumers AS c
    WHERE $1 = 'consumers' AND c.project_id = $2 AND c.deleted_at IS NULL
    UNION ALL
    SELECT a.id, ''
    FROM ampersand.provider_apps AS a
    WHERE $1 = 'provider_apps' AND a.project_id = $2 AND a.deleted_at IS NULL
)
SELECT (SELECT count(*) FROM live WHERE (k1, k2) NOT IN (SELECT k1, k2 FROM reached)) AS live,
       (SELECT count(*) FROM pg_temp.ampsync_plan AS p
        WHERE p.tbl = $1 AND p.change = 'delete'
          AND (p.k1, coalesce(p.k2, '')) NOT IN (SELECT k1, k2 FROM reached)) AS deleted
