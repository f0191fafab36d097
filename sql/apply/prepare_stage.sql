SELECT ampersand.prepare_stage($1, $2)
