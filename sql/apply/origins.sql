-- The source records (origins, src/snapshot/store.rs) of the copies in the snapshot of table $1
-- whose key is one of the ids $2, with the id.
SELECT origin, k1 FROM pg_temp.ampsync_snapshot WHERE tbl = $1 AND k1 = ANY ($2)
