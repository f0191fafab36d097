-- What `ampsync export` can answer for project $1: the observed time of its first
-- applied snapshot (null when none was), which project_retention keeps after prune
-- has deleted that run, and the cutoff before which prune --history left its history
-- partial (null when whole).
SELECT least(
           (SELECT first_observed_at FROM ampersand.project_retention WHERE project_id = $1),
           (SELECT min(observed_at) FROM ampersand.sync_runs
            WHERE project = $1 AND status = 'succeeded' AND NOT dry_run)),
       (SELECT history_since FROM ampersand.project_retention WHERE project_id = $1)
