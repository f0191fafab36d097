-- Live rows of synced table $1 of project $2, for the mass-delete guard.
SELECT live FROM ampersand.count_rows($1, $2)
