-- Statistics of the snapshot's index, for planning the comparisons: row counts and the
-- keys' distinct values, per partition (one per table), which is what each comparison
-- reads. Analyzing the partitioned parent, or every column, would sample far more.
ANALYZE pg_temp.ampsync_snapshot_projects (k1), pg_temp.ampsync_snapshot_integrations (k1),
        pg_temp.ampsync_snapshot_groups (k1), pg_temp.ampsync_snapshot_consumers (k1),
        pg_temp.ampsync_snapshot_provider_apps (k1), pg_temp.ampsync_snapshot_connections (k1),
        pg_temp.ampsync_snapshot_configs (k1), pg_temp.ampsync_snapshot_installations (k1)
