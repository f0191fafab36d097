-- Per table: the snapshot's distinct keys, and how many of them came in copies that
-- disagree (different row hashes).
SELECT tbl, count(*)::bigint AS keys, (count(*) FILTER (WHERE lo <> hi))::bigint AS disagreeing
FROM (SELECT tbl, k1, k2, min(row_hash) AS lo, max(row_hash) AS hi
      FROM pg_temp.ampsync_snapshot
      GROUP BY tbl, k1, k2) AS k
GROUP BY tbl
