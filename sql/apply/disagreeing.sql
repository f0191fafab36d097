-- The keys of table $1 whose copies in the snapshot disagree (different row hashes).
SELECT count(*)
FROM (SELECT FROM pg_temp.ampsync_snapshot
      WHERE tbl = $1
      GROUP BY k1, k2
      HAVING min(row_hash) <> max(row_hash)) AS k
