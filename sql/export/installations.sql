-- `ampsync export`: the `List installations` response of project $1 as the tables hold
-- it now ($2 null: the current rows, installations not soft-deleted) or held it at $2
-- (the *_as_of functions, all at the same time, so the joins line up). One row per
-- installation, ordered by id (bytewise, the same in every database), each the JSON
-- text of one Installation object. The inverse of src/bridge/mod.rs:
--   * fields under their API names, nested objects from their own tables by the
--     references the installation and its connection hold;
--   * each object's `extra` merged back at its level; the connection's
--     `extra.oauth2AuthorizationCode` (see nest_extra) merged into that object;
--   * NULL columns left out: jsonb_strip_nulls over the typed columns only (it works at
--     every depth), and free-form values and nested objects added only when present,
--     so nulls inside `extra` and free-form values stay;
--   * free-form jsonb (config content, metadata, providerMetadata, catalogVars, extra)
--     written as stored, so numbers stay exact; times as RFC 3339 UTC with microseconds;
--   * no secret: tokens and API keys were never stored, and the has_* flags, which are
--     not API fields, are not written; a token object is written (with its times) when
--     the token or a time was there.
-- The columns are not listed here: each marker (a comment `columns T`, `fields T a` or
-- `documents T a`) is filled in at run time from table T's columns (src/commands/export.rs,
-- `fill_columns`). Every column that is a plain field of its object (its hash name,
-- src/catalog.rs, has no dot and no @) is written under that name: times as below,
-- arrays as JSON arrays, jsonb as a document added when present, anything else as it
-- is. What is written by hand below is the structure: the nested objects, the token
-- object, and projectId where the API object has one. So a new column for an API field
-- (a promoted one, say) needs no edit here.
-- The current connection row is read, not its open history version: token times move
-- without a version (PRODUCT.md), and "now" means the tables' values.
--
-- Each row is (id, JSON text), the text null when the object holds a number PostgreSQL
-- prints in more than 1,000 characters (magnitude at least 1e1000, or non-zero and below
-- 1e-1000): releases up to 0.3.1 stored such numbers, and one record of `1e131071`s
-- prints as gigabytes, failing the export with "out of memory" after a long wait.
-- ampsync now rejects them at ingest (src/snapshot/storable.rs); the export names the row instead.
WITH inst AS (
    SELECT /*columns installations*/
    FROM ampersand.installations
    WHERE $2::timestamptz IS NULL AND project_id = $1 AND deleted_at IS NULL
    UNION ALL
    SELECT /*columns installations*/
    FROM ampersand.installations_as_of($2)
    WHERE $2::timestamptz IS NOT NULL AND project_id = $1
),
conn AS (
    SELECT /*columns connections*/
    FROM ampersand.connections
    WHERE $2::timestamptz IS NULL AND project_id = $1
    UNION ALL
    SELECT /*columns connections*/
    FROM ampersand.connections_as_of($2)
    WHERE $2::timestamptz IS NOT NULL AND project_id = $1
),
grp AS (
    SELECT group_ref, extra || jsonb_strip_nulls(jsonb_build_object(
               'projectId', project_id, /*fields groups*/
           )) /*documents groups*/ AS obj
    FROM (
        SELECT /*columns groups*/
        FROM ampersand.groups
        WHERE $2::timestamptz IS NULL AND project_id = $1
        UNION ALL
        SELECT /*columns groups*/
        FROM ampersand.groups_as_of($2)
        WHERE $2::timestamptz IS NOT NULL AND project_id = $1
    ) AS g
),
cons AS (
    SELECT consumer_ref, extra || jsonb_strip_nulls(jsonb_build_object(
               'projectId', project_id, /*fields consumers*/
           )) /*documents consumers*/ AS obj
    FROM (
        SELECT /*columns consumers*/
        FROM ampersand.consumers
        WHERE $2::timestamptz IS NULL AND project_id = $1
        UNION ALL
        SELECT /*columns consumers*/
        FROM ampersand.consumers_as_of($2)
        WHERE $2::timestamptz IS NOT NULL AND project_id = $1
    ) AS c
),
app AS (
    SELECT id, extra || jsonb_strip_nulls(jsonb_build_object(
               'projectId', project_id, /*fields provider_apps*/
           )) /*documents provider_apps*/ AS obj
    FROM (
        SELECT /*columns provider_apps*/
        FROM ampersand.provider_apps
        WHERE $2::timestamptz IS NULL AND project_id = $1
        UNION ALL
        SELECT /*columns provider_apps*/
        FROM ampersand.provider_apps_as_of($2)
        WHERE $2::timestamptz IS NOT NULL AND project_id = $1
    ) AS a
),
-- A config's project and installation are the run's, not fields of the API object.
cfg AS (
    SELECT id, extra || jsonb_strip_nulls(jsonb_build_object(
               /*fields configs*/
           )) /*documents configs*/ AS obj
    FROM (
        SELECT /*columns configs*/
        FROM ampersand.configs
        WHERE $2::timestamptz IS NULL AND project_id = $1
        UNION ALL
        SELECT /*columns configs*/
        FROM ampersand.configs_as_of($2)
        WHERE $2::timestamptz IS NOT NULL AND project_id = $1
    ) AS f
)
SELECT i.id, CASE WHEN jsonb_path_exists(obj.obj,
           '$.** ? (@.type() == "number" && (@ >= 1e1000 || @ <= -1e1000 || (@ != 0 && @ > -1e-1000 && @ < 1e-1000)))')
       THEN NULL ELSE obj.obj::text END
FROM inst AS i
LEFT JOIN conn AS c ON c.id = i.connection_id
LEFT JOIN grp AS ig ON ig.group_ref = i.group_ref
LEFT JOIN grp AS cg ON cg.group_ref = c.group_ref
LEFT JOIN cons AS cu ON cu.consumer_ref = c.consumer_ref
LEFT JOIN app AS pa ON pa.id = c.provider_app_id
LEFT JOIN cfg AS f ON f.id = i.config_id
-- The connection's extra.oauth2AuthorizationCode (nest_extra) and its typed parts; none
-- when nothing of it is stored. A token object holds its times, never the token.
CROSS JOIN LATERAL (
    SELECT nullif(
        coalesce(c.extra -> 'oauth2AuthorizationCode', '{}')
        || jsonb_strip_nulls(jsonb_build_object(
               'accessToken', CASE
                   WHEN c.has_access_token OR c.access_token_issued_at IS NOT NULL
                        OR c.access_token_expires_at IS NOT NULL
                   THEN jsonb_build_object(
                       'issuedAt', to_char(c.access_token_issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'expiresAt', to_char(c.access_token_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
               END,
               'refreshToken', CASE
                   WHEN c.has_refresh_token OR c.refresh_token_issued_at IS NOT NULL
                        OR c.refresh_token_expires_at IS NOT NULL
                   THEN jsonb_build_object(
                       'issuedAt', to_char(c.refresh_token_issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'expiresAt', to_char(c.refresh_token_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
               END,
               'scopes', to_jsonb(c.oauth_scopes))),
        '{}') AS obj
) AS oauth
-- The installation's object, checked and written above.
CROSS JOIN LATERAL (SELECT (i.extra
        || jsonb_strip_nulls(jsonb_build_object(
               'projectId', i.project_id, /*fields installations i*/))
        /*documents installations i*/
        || CASE WHEN ig.obj IS NULL THEN '{}' ELSE jsonb_build_object('group', ig.obj) END
        || CASE WHEN c.id IS NULL THEN '{}' ELSE jsonb_build_object('connection',
               (c.extra - 'oauth2AuthorizationCode')
               || jsonb_strip_nulls(jsonb_build_object(
                      'projectId', c.project_id, /*fields connections c*/))
               /*documents connections c*/
               || CASE WHEN pa.obj IS NULL THEN '{}' ELSE jsonb_build_object('providerApp', pa.obj) END
               || CASE WHEN cg.obj IS NULL THEN '{}' ELSE jsonb_build_object('group', cg.obj) END
               || CASE WHEN cu.obj IS NULL THEN '{}' ELSE jsonb_build_object('consumer', cu.obj) END
               || CASE WHEN oauth.obj IS NULL THEN '{}' ELSE jsonb_build_object('oauth2AuthorizationCode', oauth.obj) END
               ) END
        || CASE WHEN f.obj IS NULL THEN '{}' ELSE jsonb_build_object('config', f.obj) END) AS obj
) AS obj
ORDER BY i.id COLLATE "C"
