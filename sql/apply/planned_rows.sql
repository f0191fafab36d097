-- The next rows of table $1 to stage, after position $2 in the snapshot's row file
-- (in file order, so the file is read front to back), at most $3.
SELECT change, pos, len FROM pg_temp.ampsync_plan
WHERE tbl = $1 AND change <> 'delete' AND pos > $2
ORDER BY pos
LIMIT $3
