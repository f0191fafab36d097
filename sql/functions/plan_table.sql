-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- Plans one synced table: the winning copy of each key in the snapshot's index (latest
-- updateTime, then greatest row hash, whatever the order of the response) against what
-- project p_project has stored. Writes to pg_temp.ampsync_plan what to insert, restore,
-- update (content changed), touch (token times alone changed), rehash (unchanged, but
-- stored with 0.1.0's hashes) and delete. Returns the number of distinct keys in the
-- snapshot.
--
-- p_group is the group of a group sync (null: all); p_covered whether the snapshot holds
-- every row of the table (only then are absent rows deleted); p_scope which absent rows
-- a group sync may delete (src/catalog.rs, DeleteScope): 'group' (the group's own rows),
-- 'installation' (rows whose installation is in the group), 'full_sync' (none in a
-- group sync), 'any', 'never'.
CREATE OR REPLACE FUNCTION ampersand.plan_table(p_table text, p_project text, p_group text, p_covered boolean, p_scope text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    keys       text[] := ampersand.key_columns(p_table);
    two        boolean := cardinality(keys) = 2;
    by_key     text := CASE WHEN two THEN 'k1 COLLATE "C", k2 COLLATE "C"' ELSE 'k1 COLLATE "C"' END;
    stored_key text;
    deletable  text;
    source     text := format('%s AS t', ampersand.synced_table(p_table));
    distinct_keys bigint;
BEGIN
    SELECT string_agg(format('t.%I AS s%s', c, n), ', ') INTO stored_key
    FROM unnest(keys) WITH ORDINALITY AS k(c, n);
    deletable := CASE p_scope
        WHEN 'group' THEN '$2::text IS NULL OR t.group_ref = $2'
        WHEN 'installation' THEN '$2::text IS NULL OR i.group_ref = $2'
        WHEN 'full_sync' THEN '$2::text IS NULL'
        WHEN 'any' THEN 'true'
        WHEN 'never' THEN 'false'
    END;
    IF deletable IS NULL THEN
        RAISE EXCEPTION 'ampersand: unknown delete scope %', p_scope;
    END IF;
    IF p_scope = 'installation' THEN
        -- Only a group sync needs the installation's group.
        source := source || ' LEFT JOIN ampersand.installations AS i ON $2::text IS NOT NULL AND i.id = t.installation_id';
    END IF;
    EXECUTE format($sql$
        WITH n AS (
            SELECT DISTINCT ON (%1$s) k1, k2, content_hash, row_hash, legacy_content_hash, pos, len
            FROM pg_temp.ampsync_snapshot
            WHERE tbl = $4
            ORDER BY %1$s, update_ns DESC NULLS LAST, coalesce(rank, row_hash) COLLATE "C" DESC,
                     row_hash COLLATE "C" DESC
        ), planned AS (
            INSERT INTO pg_temp.ampsync_plan (tbl, change, pos, len, k1, k2)
            SELECT $4,
                   CASE WHEN s.s1 IS NULL THEN 'insert'
                        WHEN n.k1 IS NULL THEN 'delete'
                        WHEN s.deleted_at IS NOT NULL THEN 'restore'
                        WHEN s.content_hash = n.content_hash THEN 'touch'
                        WHEN s.content_hash = n.legacy_content_hash THEN 'rehash'
                        ELSE 'update' END,
                   n.pos, n.len, coalesce(n.k1, s.s1), %2$s
            FROM n
            FULL JOIN (SELECT %3$s, t.content_hash, t.row_hash, t.deleted_at,
                              coalesce(%4$s, false) AS deletable
                       FROM %5$s WHERE t.%6$I = $1) AS s ON %7$s
            WHERE CASE WHEN n.k1 IS NULL THEN $3 AND s.deleted_at IS NULL AND s.deletable
                       WHEN s.s1 IS NULL THEN true
                       ELSE s.deleted_at IS NOT NULL OR s.row_hash <> n.row_hash END
            RETURNING 1
        )
        SELECT count(*) FROM n
    $sql$,
        by_key,
        CASE WHEN two THEN 'coalesce(n.k2, s.s2)' ELSE 'NULL' END,
        stored_key,
        deletable,
        source,
        ampersand.owner_column(p_table),
        CASE WHEN two THEN 's.s1 = n.k1 AND s.s2 = n.k2' ELSE 's.s1 = n.k1' END)
    INTO distinct_keys
    USING p_project, p_group, p_covered, p_table;
    RETURN distinct_keys;
END $$;

COMMENT ON FUNCTION ampersand.plan_table(text, text, text, boolean, text) IS 'Used by ampsync only: compares the run''s snapshot index with the stored rows of a synced table and writes what to change to pg_temp.ampsync_plan. Returns the number of distinct keys in the snapshot.';
