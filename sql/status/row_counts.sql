-- Live and deleted rows of synced table $1, for one project ($2) or all (null).
SELECT live, deleted FROM ampersand.count_rows($1, $2)
