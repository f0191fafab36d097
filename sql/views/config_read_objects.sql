-- Repeatable: applied by `ampsync migrate` after the versioned migrations and
-- sql/functions/, every time (see src/db.rs): ampersand.replace_view recreates the view
-- only when this definition differs from the one it has. This file is the view's one
-- current definition: change it here, never in a migration. CREATE OR REPLACE VIEW can
-- only add columns at the end; a change that drops, renames or retypes a column needs a
-- versioned migration that drops the view first (this file then creates it again).

-- One row per live config × object it reads (configs.content -> 'read' -> 'objects').
-- Config content is free-form JSON the API may change: every cast below is guarded by
-- jsonb_typeof, so an unexpected shape gives a null, never an error for the whole view.
-- (Nested CASEs, not AND: Postgres does not promise to evaluate AND left to right.)
SELECT ampersand.replace_view('config_read_objects', $view$
SELECT c.id                        AS config_id,
       c.project_id,
       c.installation_id,
       i.integration_id,
       ig.name                     AS integration_name,
       i.group_ref,
       g.group_name,
       o.key                       AS object_key,
       coalesce(o.value ->> 'objectName', o.key) AS object_name,
       o.value ->> 'schedule'      AS schedule,
       CASE jsonb_typeof(o.value -> 'disabled')
           WHEN 'boolean' THEN (o.value ->> 'disabled')::boolean
           WHEN 'null' THEN false
           ELSE CASE WHEN o.value -> 'disabled' IS NULL THEN false END
       END                         AS disabled,
       o.value ->> 'destination'   AS destination,
       ARRAY(SELECT f.key
             FROM jsonb_each(CASE jsonb_typeof(o.value -> 'selectedFields')
                                 WHEN 'object' THEN o.value -> 'selectedFields'
                                 ELSE '{}'::jsonb END) AS f
             WHERE f.value = 'true'::jsonb
             ORDER BY f.key)       AS selected_fields,
       o.value ->> 'selectedFieldsAuto' AS selected_fields_auto,
       o.value -> 'selectedFieldMappings' AS selected_field_mappings,
       CASE jsonb_typeof(o.value #> '{backfill,defaultPeriod,fullHistory}')
           WHEN 'boolean' THEN (o.value #>> '{backfill,defaultPeriod,fullHistory}')::boolean
       END                         AS backfill_full_history,
       CASE jsonb_typeof(o.value #> '{backfill,defaultPeriod,days}')
           WHEN 'number' THEN
               CASE WHEN (o.value #>> '{backfill,defaultPeriod,days}')::numeric BETWEEN 0 AND 2147483647
                    THEN (o.value #>> '{backfill,defaultPeriod,days}')::numeric::integer
               END
       END                         AS backfill_days,
       o.value -> 'backfill'       AS backfill,
       o.value                     AS object_config
FROM ampersand.configs AS c
LEFT JOIN ampersand.installations AS i ON i.id = c.installation_id
LEFT JOIN ampersand.integrations AS ig ON ig.id = i.integration_id
LEFT JOIN ampersand.groups AS g ON g.project_id = i.project_id AND g.group_ref = i.group_ref
CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(c.content #> '{read,objects}')
                                  WHEN 'object' THEN c.content #> '{read,objects}'
                                  ELSE '{}'::jsonb END) AS o
WHERE c.deleted_at IS NULL
$view$);

COMMENT ON VIEW ampersand.config_read_objects IS
    'One row per live config and object it reads (configs.content -> read -> objects): schedule, destination, selected fields, backfill period.';
COMMENT ON COLUMN ampersand.config_read_objects.config_id IS 'Config id.';
COMMENT ON COLUMN ampersand.config_read_objects.project_id IS 'Project id.';
COMMENT ON COLUMN ampersand.config_read_objects.installation_id IS 'Installation the config belongs to.';
COMMENT ON COLUMN ampersand.config_read_objects.integration_id IS 'Integration installed.';
COMMENT ON COLUMN ampersand.config_read_objects.integration_name IS 'Integration name.';
COMMENT ON COLUMN ampersand.config_read_objects.group_ref IS 'Group the installation is for.';
COMMENT ON COLUMN ampersand.config_read_objects.group_name IS 'Group display name.';
COMMENT ON COLUMN ampersand.config_read_objects.object_key IS 'Key of the object in read.objects.';
COMMENT ON COLUMN ampersand.config_read_objects.object_name IS 'Provider object read (objectName, else the key), e.g. account, contact.';
COMMENT ON COLUMN ampersand.config_read_objects.schedule IS 'Read schedule, cron syntax (e.g. */15 * * * *).';
COMMENT ON COLUMN ampersand.config_read_objects.disabled IS 'True when scheduled reads of the object are paused (absent means false; null if not a boolean).';
COMMENT ON COLUMN ampersand.config_read_objects.destination IS 'Destination the records are sent to (e.g. a webhook name).';
COMMENT ON COLUMN ampersand.config_read_objects.selected_fields IS 'Fields selected for reading (those set to true in selectedFields), sorted.';
COMMENT ON COLUMN ampersand.config_read_objects.selected_fields_auto IS 'selectedFieldsAuto: all means every field is read.';
COMMENT ON COLUMN ampersand.config_read_objects.selected_field_mappings IS 'selectedFieldMappings: destination field name → provider field (JSON).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill_full_history IS 'True when the backfill reads all history (backfill.defaultPeriod.fullHistory).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill_days IS 'Days of history the backfill reads (backfill.defaultPeriod.days; 0 = none).';
COMMENT ON COLUMN ampersand.config_read_objects.backfill IS 'The backfill settings as JSON.';
COMMENT ON COLUMN ampersand.config_read_objects.object_config IS 'The object''s whole read config as JSON (filters, value mappings, ...).';
