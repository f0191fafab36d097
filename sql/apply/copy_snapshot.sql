COPY pg_temp.ampsync_snapshot (tbl, k1, k2, content_hash, row_hash, legacy_content_hash, update_ns, rank, pos, len, origin) FROM STDIN
