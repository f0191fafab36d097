"""What the generators of this dbt project read from a database ampsync has migrated:
every table and view of schema `ampersand` with its `COMMENT ON` text, and each column's
comment and type. Shared by generate_sources.py (models/sources.yml) and
generate_staging.py (models/staging/), with the keys both test.

psql runs the query: `psql` on the PATH, or the one the PSQL variable names.
"""
import json
import os
import subprocess

# The key of each table, as ampsync declares it (migrations/: its primary key).
KEYS = {
    "projects": ["id"],
    "integrations": ["id"],
    "groups": ["project_id", "group_ref"],
    "consumers": ["project_id", "consumer_ref"],
    "provider_apps": ["id"],
    "connections": ["id"],
    "configs": ["id"],
    "installations": ["id"],
    "sync_runs": ["id"],
    "rejected_records": ["sync_run_id", "source", "position"],
    "project_retention": ["project_id"],
    "operations": ["project_id", "id"],
    "operation_logs": ["project_id", "operation_id", "entry_hash"],
    "operation_log_reads": ["project_id", "operation_id"],
    "operation_cursors": ["project_id", "installation_id"],
}

# data_type is PostgreSQL's own name of the column's type (format_type: `timestamp with
# time zone`, `text[]`), the name a dbt contract casts to and compares.
QUERY = """
SELECT json_agg(json_build_object(
           'name', c.relname,
           'description', obj_description(c.oid, 'pg_class'),
           'columns', (SELECT json_agg(json_build_object(
                                  'name', a.attname,
                                  'description', col_description(c.oid, a.attnum),
                                  'data_type', format_type(a.atttypid, a.atttypmod))
                              ORDER BY a.attnum)
                       FROM pg_attribute AS a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
       ORDER BY c.relname)
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v', 'm', 'p')
"""


def relations(url):
    """The relations of schema ampersand, by name, each with its columns in order."""
    psql = os.environ.get("PSQL", "psql")
    out = subprocess.run([psql, "-X", "-At", "-d", url, "-c", QUERY],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def q(text):
    """A YAML string: JSON, which YAML reads as it is."""
    return json.dumps(text, ensure_ascii=False)


def key_tests(column, key):
    """The tests a column of the key gets: not_null, and unique when it is the key alone."""
    if column not in key:
        return []
    return ["not_null", "unique"] if len(key) == 1 else ["not_null"]


def combination_test(key, indent):
    """A composite key's test (tests/generic/unique_combination.sql, since dbt has no
    built-in one) as YAML lines indented by `indent`; none for a key of one column."""
    if len(key) < 2:
        return []
    pad = " " * indent
    return [pad + "data_tests:",
            pad + "  - unique_combination:",
            pad + "      arguments:",
            pad + "        columns: " + q(key)]
