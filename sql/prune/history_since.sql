-- Records that prune --history deleted the versions of project $1 that ended before $2:
-- as-of reads before $2 are partial from now on. A later cutoff replaces an earlier one.
INSERT INTO ampersand.project_retention AS r (project_id, history_since)
VALUES ($1, $2)
ON CONFLICT (project_id) DO UPDATE
SET history_since = greatest(r.history_since, excluded.history_since)
