-- Installations added and removed per week, from the history: an installation is added
-- when a snapshot first shows it (or shows it again after it was gone) and removed when
-- a snapshot no longer has it. The week of a project's first sync counts every
-- installation that existed then as added. Weeks start on Monday (session time zone);
-- weeks without a change are listed with zeros.
--
-- Run:     psql "$DATABASE_URL" -f sql/queries/installations_added_removed_per_week.sql
--
-- Columns:
--   project_id        the project
--   week_start        Monday of the week
--   added             installations added that week
--   removed           installations removed that week
--   net_change        added - removed
--   live_at_week_end  live installations at the end of the week
WITH changes AS (
    SELECT project_id,
           date_trunc('week', valid_from)::date AS week_start,
           count(*) FILTER (WHERE change = 'insert') AS added,
           count(*) FILTER (WHERE change = 'delete') AS removed
    FROM ampersand.installations_history
    WHERE change IN ('insert', 'delete')
    GROUP BY 1, 2
), weeks AS (
    SELECT project_id,
           generate_series(min(week_start), max(week_start), interval '1 week')::date AS week_start
    FROM changes
    GROUP BY project_id
)
SELECT w.project_id,
       w.week_start,
       coalesce(c.added, 0) AS added,
       coalesce(c.removed, 0) AS removed,
       coalesce(c.added, 0) - coalesce(c.removed, 0) AS net_change,
       sum(coalesce(c.added, 0) - coalesce(c.removed, 0))
           OVER (PARTITION BY w.project_id ORDER BY w.week_start) AS live_at_week_end
FROM weeks AS w
LEFT JOIN changes AS c USING (project_id, week_start)
ORDER BY w.project_id, w.week_start;
