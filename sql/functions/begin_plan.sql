-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- (Re)creates the run's scratch tables, empty: the snapshot's index (one row per row
-- copy the snapshot holds, with its hashes and 0.1.0's content hash of it) and the
-- plan (what to write, per table). The index is partitioned by table: each planning
-- statement (plan_table) and each count of disagreeing copies reads its own table's
-- rows instead of scanning every row of the snapshot, eight tables over. And the run's
-- transaction plans for cached pages (random_page_cost).
CREATE OR REPLACE FUNCTION ampersand.begin_plan(p_tables text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    -- Planning sorts and hashes every key of the snapshot: give it room in memory for
    -- the rest of the transaction, rather than spilling to disk.
    IF pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024 THEN
        PERFORM set_config('work_mem', '64MB', true);
    END IF;
    -- The tables' pages are mostly cached: the few thousand rows a run changes or
    -- deletes are found faster through the key's index than by hashing every row of
    -- the table, which the default random_page_cost (4, for spinning disks) would have
    -- the planner do. For the rest of the transaction, like work_mem.
    PERFORM set_config('random_page_cost', '1.1', true);
    IF to_regclass('pg_temp.ampsync_snapshot') IS NOT NULL THEN
        TRUNCATE pg_temp.ampsync_snapshot, pg_temp.ampsync_plan;
        RETURN;
    END IF;
    CREATE TEMP TABLE ampsync_snapshot (
        tbl          text NOT NULL,
        k1           text NOT NULL,
        k2           text,
        content_hash text NOT NULL,
        row_hash     text NOT NULL,
        legacy_content_hash text NOT NULL,
        update_ns    bigint,
        rank         text,
        pos          bigint NOT NULL,
        len          integer NOT NULL,
        -- The source record the copy came from (src/snapshot/store.rs, Origin), so that a record
        -- whose rows cannot be stored can be rejected whole.
        origin       bigint
    ) PARTITION BY LIST (tbl);
    FOREACH t IN ARRAY p_tables LOOP
        PERFORM ampersand.synced_table(t);
        EXECUTE format('CREATE TEMP TABLE %I PARTITION OF pg_temp.ampsync_snapshot FOR VALUES IN (%L)',
                       'ampsync_snapshot_' || t, t);
    END LOOP;
    CREATE TEMP TABLE ampsync_plan (
        tbl    text NOT NULL,
        change text NOT NULL,
        pos    bigint,
        len    integer,
        k1     text,
        k2     text
    );
    CREATE INDEX ON pg_temp.ampsync_plan (tbl, pos);
END $$;

COMMENT ON FUNCTION ampersand.begin_plan(text[]) IS 'Used by ampsync only: creates (or empties) the run''s temporary tables ampsync_snapshot (the snapshot''s index, partitioned by the given synced tables) and ampsync_plan (what to write).';
