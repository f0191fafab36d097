-- The columns of the tables an export reads ($1), in table order, with their types as
-- format_type prints them: src/commands/export.rs fills the column lists of installations.sql
-- from them, so that a new column needs no edit there. Readable with the reader's rights.
SELECT c.relname::text, a.attname::text, format_type(a.atttypid, NULL)
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
WHERE c.relnamespace = 'ampersand'::regnamespace AND c.relkind = 'r' AND c.relname = ANY ($1)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
