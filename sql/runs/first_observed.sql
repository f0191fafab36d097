-- Records that project $1 has a snapshot observed at $2, inside the apply transaction:
-- the project's first observed time stays the earliest, whatever prune deletes later.
INSERT INTO ampersand.project_retention AS r (project_id, first_observed_at)
VALUES ($1, $2)
ON CONFLICT (project_id) DO UPDATE
SET first_observed_at = least(r.first_observed_at, excluded.first_observed_at)
WHERE r.first_observed_at IS NULL OR r.first_observed_at > excluded.first_observed_at
