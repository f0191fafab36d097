-- What `ampsync prune` leaves answerable (issue 20): the first snapshot time of each
-- project, which pruned runs no longer show, and the cutoff of the last history prune,
-- before which an as-of read is partial. `export --as-of` reads both.

CREATE TABLE ampersand.project_retention (
    project_id        text PRIMARY KEY,
    first_observed_at timestamptz,
    history_since     timestamptz
);

COMMENT ON TABLE ampersand.project_retention IS
    'Per project, the span of time its history answers for, which prune would otherwise hide: when its first snapshot was observed, and since when its history is whole. Kept by ampsync (each applied snapshot; prune --history).';
COMMENT ON COLUMN ampersand.project_retention.project_id IS 'Project id.';
COMMENT ON COLUMN ampersand.project_retention.first_observed_at IS 'Observed time of the first snapshot applied to the project: nothing is known before it. Stays when prune deletes that snapshot''s run.';
COMMENT ON COLUMN ampersand.project_retention.history_since IS 'Cutoff of the latest ampsync prune --history that deleted versions: as-of reads at or after it are whole, earlier ones miss what changed before it. Null when no history was pruned, or only by ampsync 0.3, which recorded no cutoff.';

-- A database pruned before this migration: its first snapshot's run may be gone, but
-- its versions are not (prune keeps history unless --history), and the first snapshot
-- wrote every version it held with valid_from at its observed time.
INSERT INTO ampersand.project_retention (project_id, first_observed_at)
SELECT project_id, min(first_observed_at)
FROM (
    SELECT project AS project_id, min(observed_at) AS first_observed_at
    FROM ampersand.sync_runs WHERE status = 'succeeded' AND NOT dry_run GROUP BY project
    UNION ALL SELECT id, min(valid_from) FROM ampersand.projects_history GROUP BY id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.integrations_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.groups_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.consumers_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.provider_apps_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.connections_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.configs_history GROUP BY project_id
    UNION ALL SELECT project_id, min(valid_from) FROM ampersand.installations_history GROUP BY project_id
) AS firsts
GROUP BY project_id;
