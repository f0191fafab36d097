SELECT ampersand.delete_planned($1, $2, $3)
