SELECT ampersand.merge_stage($1, $2, $3)
