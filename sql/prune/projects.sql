-- Every project the run ledger knows.
SELECT DISTINCT project FROM ampersand.sync_runs ORDER BY project
