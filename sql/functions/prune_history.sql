-- Repeatable: applied by `ampsync migrate` after the versioned migrations, every time,
-- with CREATE OR REPLACE (see src/db.rs). This file is the function's one current
-- definition: change it here, never in a migration.

-- Deletes the versions of project p_project in p_table's history that ended before
-- p_cutoff (valid_to < p_cutoff). An open version (valid_to null: the current one, or a
-- deleted object's tombstone) is never deleted. Returns how many were deleted.
CREATE OR REPLACE FUNCTION ampersand.prune_history(p_table text, p_project text, p_cutoff timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pruned bigint;
BEGIN
    EXECUTE format('DELETE FROM %s_history WHERE %I = $1 AND valid_to IS NOT NULL AND valid_to < $2',
                   ampersand.synced_table(p_table), ampersand.owner_column(p_table))
    USING p_project, p_cutoff;
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END $$;

COMMENT ON FUNCTION ampersand.prune_history(text, text, timestamptz) IS 'Used by ampsync prune --history: deletes a project''s versions of a synced table that ended before the cutoff, never an open (current) version. Returns how many.';
