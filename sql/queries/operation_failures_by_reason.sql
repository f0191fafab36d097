-- Why operations failed in the last days: failed operations grouped by integration and
-- result (the API's summary, secrets redacted), with how many installations each hit,
-- the first and last time, and a log line of the newest when a sync read its logs.
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/operation_failures_by_reason.sql
-- Example: psql "$DATABASE_URL" -v at=2026-11-08T00:00:00Z -v days=7 -f sql/queries/operation_failures_by_reason.sql
-- Parameters (psql variables):
--   at     the end of the period (default: now)
--   days   the period's length in days (default: 7)
-- In a BI tool, replace :'at' and :'days' with literals, e.g. now() and 7.
--
-- Columns:
--   integration_name  the integration
--   result            the failed operations' result text
--   failures          how many failed with it
--   installations     how many installations they belong to
--   first_failed_at   createTime of the first
--   last_failed_at    createTime of the newest
--   log_error         an error line of the newest one's logs (when read)
\if :{?at}
\else
\set at now
\endif
\if :{?days}
\else
\set days 7
\endif
SELECT ig.name                              AS integration_name,
       coalesce(o.result, '(no result)')    AS result,
       count(*)                             AS failures,
       count(DISTINCT o.installation_id)    AS installations,
       min(o.create_time)                   AS first_failed_at,
       max(o.create_time)                   AS last_failed_at,
       (SELECT l.error FROM ampersand.operation_logs AS l
        WHERE l.operation_id = (array_agg(o.id ORDER BY o.create_time DESC))[1]
          AND l.error IS NOT NULL
        ORDER BY l.logged_at DESC LIMIT 1)  AS log_error
FROM ampersand.operations AS o
LEFT JOIN ampersand.integrations AS ig ON ig.id = o.integration_id
WHERE o.status = 'failure'
  AND o.create_time <= :'at'::timestamptz
  AND o.create_time > :'at'::timestamptz - make_interval(days => :'days'::int)
GROUP BY ig.name, coalesce(o.result, '(no result)')
ORDER BY failures DESC, last_failed_at DESC;
