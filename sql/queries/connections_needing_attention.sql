-- Connections that need attention: status bad_credentials (the customer must
-- reconnect), a refresh token that has expired or expires within the window (the same,
-- soon), or an access token that expires within the window. Live connections only.
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/connections_needing_attention.sql
-- Example: psql "$DATABASE_URL" -v at=2026-11-08T00:00:00Z -f sql/queries/connections_needing_attention.sql
-- Parameters (psql variables):
--   at       the moment the window starts (default: now)
--   within   the window's length (default: 7 days; e.g. -v within=30days)
-- In a BI tool, replace :'at' and :'within' with literals, e.g. now() and '7 days'.
--
-- Columns:
--   connection_id             the connection
--   provider                  the provider it connects to
--   group_ref                 the group it belongs to
--   group_name                the group's name
--   consumer_name             who created it
--   status                    connection status
--   reasons                   why it is listed: bad_credentials, refresh token expired, refresh token expires soon, access token expires soon
--   access_token_expires_at   when the access token expires
--   refresh_token_expires_at  when the refresh token expires
--   integrations              names of the integrations its live installations install
\if :{?at}
\else
\set at now
\endif
\if :{?within}
\else
\set within '7 days'
\endif
SELECT *
FROM (
    SELECT c.id AS connection_id,
           c.provider,
           c.group_ref,
           g.group_name,
           cu.consumer_name,
           c.status,
           array_remove(ARRAY[
               CASE WHEN c.status = 'bad_credentials' THEN 'bad_credentials' END,
               CASE WHEN c.refresh_token_expires_at <= :'at'::timestamptz THEN 'refresh token expired'
                    WHEN c.refresh_token_expires_at <= :'at'::timestamptz + :'within'::interval
                        THEN 'refresh token expires soon' END,
               CASE WHEN c.access_token_expires_at > :'at'::timestamptz
                     AND c.access_token_expires_at <= :'at'::timestamptz + :'within'::interval
                        THEN 'access token expires soon' END
           ], NULL) AS reasons,
           c.access_token_expires_at,
           c.refresh_token_expires_at,
           ARRAY(SELECT DISTINCT ig.name
                 FROM ampersand.installations AS i
                 JOIN ampersand.integrations AS ig ON ig.id = i.integration_id
                 WHERE i.connection_id = c.id AND i.deleted_at IS NULL
                 ORDER BY ig.name) AS integrations
    FROM ampersand.connections AS c
    LEFT JOIN ampersand.groups AS g ON g.project_id = c.project_id AND g.group_ref = c.group_ref
    LEFT JOIN ampersand.consumers AS cu ON cu.project_id = c.project_id AND cu.consumer_ref = c.consumer_ref
    WHERE c.deleted_at IS NULL
) AS listed
WHERE cardinality(reasons) > 0
ORDER BY status = 'bad_credentials' DESC, least(refresh_token_expires_at, access_token_expires_at), connection_id;
