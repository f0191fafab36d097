-- Records the lists the API would not give run $1 (403, 404): $2 is an object of list
-- name → why. Inside the apply transaction, like the run's outcome.
UPDATE ampersand.sync_runs SET lists_unavailable = $2 WHERE id = $1
