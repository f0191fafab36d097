-- What the session's role may do that a sync needs, for `ampsync check`: create schema
-- ampersand (the first migrate), create temporary tables (every apply plans in them),
-- act as the schema's owner (every migrate replaces its functions and views), use the
-- schema, and read and write each of its tables. Owner and rights are null while the
-- schema does not exist.
SELECT current_user::text AS role,
       current_database()::text AS database,
       has_database_privilege(current_database(), 'CREATE') AS may_create_schema,
       has_database_privilege(current_database(), 'TEMPORARY') AS may_create_temporary,
       n.nspowner::regrole::text AS schema_owner,
       pg_has_role(n.nspowner, 'USAGE') AS acts_as_owner,
       has_schema_privilege(n.oid, 'USAGE') AS may_use_schema,
       (SELECT array_agg(c.relname::text ORDER BY c.relname)
        FROM pg_class AS c
        WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
          AND NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
                   AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'))
       ) AS tables_not_writable
FROM (SELECT 1) AS one
LEFT JOIN pg_namespace AS n ON n.nspname = 'ampersand'
