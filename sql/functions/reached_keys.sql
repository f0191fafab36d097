-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- The keys (k1, k2, as pg_temp.ampsync_plan holds them, k2 '' for a one-column key) of
-- the rows of p_table (connections, groups, consumers, provider_apps) that a live
-- installation of project p_project reaches, in the stored state: the installation's
-- connection and group, and that connection's group, consumer and provider app. The
-- other rows of those tables only a list (src/catalog.rs, List) can show. Keys with a
-- null part are left out, so NOT IN over the result is exact.
--
-- Plain SQL, so the planner inlines it: only the branches of p_table run, each reading
-- the tables themselves, whose statistics give hash joins.
CREATE OR REPLACE FUNCTION ampersand.reached_keys(p_table text, p_project text)
RETURNS TABLE (k1 text, k2 text)
LANGUAGE sql STABLE AS $$
    SELECT r.k1, r.k2
    FROM (
        SELECT i.connection_id AS k1, '' AS k2
        FROM ampersand.installations AS i
        WHERE p_table = 'connections' AND i.project_id = p_project AND i.deleted_at IS NULL
        UNION ALL
        SELECT p_project, i.group_ref
        FROM ampersand.installations AS i
        WHERE p_table = 'groups' AND i.project_id = p_project AND i.deleted_at IS NULL
        UNION ALL
        SELECT CASE p_table WHEN 'provider_apps' THEN c.provider_app_id ELSE p_project END,
               CASE p_table WHEN 'groups' THEN c.group_ref WHEN 'consumers' THEN c.consumer_ref ELSE '' END
        FROM ampersand.installations AS i
        JOIN ampersand.connections AS c ON c.id = i.connection_id
        WHERE p_table IN ('provider_apps', 'groups', 'consumers') AND i.project_id = p_project
          AND i.deleted_at IS NULL
    ) AS r
    WHERE r.k1 IS NOT NULL AND r.k2 IS NOT NULL
$$;

COMMENT ON FUNCTION ampersand.reached_keys(text, text) IS 'Used by ampsync only: the keys of the connections, groups, consumers or provider apps that a live installation of the project reaches (the rest only the connections and provider-apps lists show).';
