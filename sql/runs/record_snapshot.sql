-- Records the fingerprint of the snapshot run $1 applied, inside its transaction.
UPDATE ampersand.sync_runs SET snapshot = $2 WHERE id = $1
