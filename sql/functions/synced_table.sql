-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration. (A change of its arguments or
-- result type needs a migration that drops the old one first.)

-- The tables the functions below accept: their names reach dynamic SQL only after this
-- check. A synced table is recognised by its shape, not by a list (the list is
-- src/catalog.rs): a table of schema ampersand with a row_hash column and a _history
-- table beside it.
CREATE OR REPLACE FUNCTION ampersand.synced_table(p_table text) RETURNS regclass
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t regclass := to_regclass(format('ampersand.%I', p_table));
BEGIN
    IF t IS NULL
       OR to_regclass(format('ampersand.%I', p_table || '_history')) IS NULL
       OR NOT EXISTS (SELECT FROM pg_attribute
                      WHERE attrelid = t AND attname = 'row_hash' AND NOT attisdropped) THEN
        RAISE EXCEPTION 'ampersand: % is not a synced table', p_table;
    END IF;
    RETURN t;
END $$;

COMMENT ON FUNCTION ampersand.synced_table(text) IS 'Internal: the regclass of a synced table, refusing any other name (guards the dynamic SQL of the writer functions).';
