-- The copies in the snapshot of table $1 (keyed by id alone: integrations,
-- provider_apps, connections, configs, installations) whose id a row of another
-- project than $2 already holds, live or deleted: in a database shared by projects
-- such a row cannot be stored (the id is the primary key), and inserting it would fail
-- the run, every run. Each id with the project that holds it. Only keys planned as
-- inserts can be another project's, so only they are looked up, each through the
-- primary key.
WITH inserted AS (
    SELECT k1 FROM pg_temp.ampsync_plan WHERE tbl = $1 AND change = 'insert'
), held (id, project_id) AS (
    SELECT t.id, t.project_id FROM ampersand.integrations AS t
    WHERE $1 = 'integrations' AND t.id IN (SELECT k1 FROM inserted)
    UNION ALL
    SELECT t.id, t.project_id FROM ampersand.provider_apps AS t
    WHERE $1 = 'provider_apps' AND t.id IN (SELECT k1 FROM inserted)
    UNION ALL
    SELECT t.id, t.project_id FROM ampersand.connections AS t
    WHERE $1 = 'connections' AND t.id IN (SELECT k1 FROM inserted)
    UNION ALL
    SELECT t.id, t.project_id FROM ampersand.configs AS t
    WHERE $1 = 'configs' AND t.id IN (SELECT k1 FROM inserted)
    UNION ALL
    SELECT t.id, t.project_id FROM ampersand.installations AS t
    WHERE $1 = 'installations' AND t.id IN (SELECT k1 FROM inserted)
)
SELECT id, project_id FROM held WHERE project_id <> $2 ORDER BY id
