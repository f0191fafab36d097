-- Settings for the export's one statement, for the rest of its transaction. Right
-- after a large import the tables have no statistics yet, and the planner, expecting
-- a row or two, would join 100,000 installations to their connections by nested loops
-- over the whole table (hours); hash joins take seconds whatever the statistics say.
-- The sort by id then gets room in memory, as planning does (begin_plan.sql).
SELECT set_config('enable_nestloop', 'off', true),
       set_config('work_mem', '64MB', true)
