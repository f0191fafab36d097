-- The versions of synced table $1 for project $2 that ended before $3, deleted.
SELECT ampersand.prune_history($1, $2, $3)
