-- The stage for operations: $1 names its columns (ampersand.prepare_stage checks them).
SELECT ampersand.prepare_stage('operations', $1)
