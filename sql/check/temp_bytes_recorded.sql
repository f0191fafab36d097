-- Whether sync_runs has temp_bytes (V13 applied), so the last run's can be read.
SELECT EXISTS (
    SELECT FROM pg_attribute
    WHERE attrelid = to_regclass('ampersand.sync_runs') AND attname = 'temp_bytes' AND NOT attisdropped
)
