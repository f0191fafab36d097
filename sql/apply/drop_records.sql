-- Takes the row copies of the rejected source records $1 (origins, src/snapshot/store.rs) out of
-- the snapshot's index, before the tables are planned again without them; how many
-- copies of each table went.
WITH dropped AS (
    DELETE FROM pg_temp.ampsync_snapshot WHERE origin = ANY ($1) RETURNING tbl
)
SELECT tbl, count(*)::bigint FROM dropped GROUP BY tbl
