COPY ampersand.rejected_records (sync_run_id, source, position, reason, payload) FROM STDIN
