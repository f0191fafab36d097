-- Plans table $1 for project $2: see sql/functions/plan_table.sql. $3 is the group of a
-- group sync, $4 whether the snapshot covers the table, $5 its delete scope.
SELECT ampersand.plan_table($1, $2, $3, $4, $5)
