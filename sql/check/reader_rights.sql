-- What the existing reader role $1 cannot read of schema ampersand (which exists): the
-- schema itself when it lacks USAGE, else each table and view it lacks SELECT on.
SELECT CASE WHEN NOT has_schema_privilege($1, 'ampersand', 'USAGE') THEN ARRAY['schema ampersand']
       ELSE (SELECT array_agg(c.relname::text ORDER BY c.relname)
             FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND NOT has_table_privilege($1, c.oid, 'SELECT'))
       END
