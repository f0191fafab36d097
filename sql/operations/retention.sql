-- Project $1's log retention in days, as its entitlements say (logRetentionDays.value),
-- when the stored project has it.
SELECT CASE WHEN jsonb_typeof(entitlements -> 'logRetentionDays' -> 'value') = 'number'
            THEN floor((entitlements -> 'logRetentionDays' ->> 'value')::numeric)::bigint END
FROM ampersand.projects WHERE id = $1
