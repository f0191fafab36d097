//! The integration tests: every test gets its own freshly created Postgres database and
//! its own fake Ampersand API, and drives the real `ampsync` binary.

mod check; // ampsync check: each prerequisite of a sync, one test per failure, the JSON form, nothing written
mod cli; // configuration, exit codes, migrations, TLS
mod columns; // every synced column reaches the export under its API name (and the dbt sources: dbt.rs)
mod completions; // ampsync completions (bash, zsh, fish, elvish, powershell) and man pages: valid for the shells and groff, no database needed
#[cfg(feature = "failpoints")]
mod crash; // the crash matrix: a run stopped at each failpoint, by panic and by exit, then run again
mod dbt; // the dbt project declares every table and view with its comments as descriptions; its staging models are generated from the schema
mod deploy; // docker-compose.yml, Kubernetes manifests and Dockerfile parse and hold their promises
mod export; // ampsync export: import then export gives the input back, less secrets; --as-of; flat memory
mod faults; // the API misbehaving: statuses, Retry-After, broken, stalled and wrong bodies, gzip
mod files; // FIFOs, devices, directories, byte order marks and file modes, for import, export and status
mod fixtures; // realistic installation payloads, with secrets
mod guard; // the mass-delete guard of what only the lists show: empty or cut-short lists, import
mod helpers; // spawn_app(): a database, a fake API (helpers/fake_api.rs), a way to run ampsync (helpers/process.rs)
mod hostile_api; // redirects, bombs, huge Retry-After, echoed secrets, control characters, proxies, key files
mod import; // backfills from archived responses
mod interrupted; // runs that die: SIGKILL, SIGTERM or SIGINT mid-fetch or mid-apply, a lost Postgres connection
mod lists; // the connections and provider-apps lists: appear, go, 403/404, group syncs, secrets, import
mod locks; // runs that collide on a project's lock: exit 75 naming the holder, --wait, other projects
mod logs; // the run summary event and progress log lines
mod operations; // each installation's operations: pages, both orders, the cursor's boundary, history, logs, budget and rotation, 429s and 404s, secrets
mod otel; // OpenTelemetry: the gauges and a trace of the phases over OTLP/HTTP, decoded by opentelemetry-proto; collectors that fail; no secret in the output
mod postgres_connection; // one Postgres configuration for migrations and data: TLS, PG* env, no password in errors
mod prune; // retention: old runs, rejected records and ended history versions go, what matters stays
mod rejects; // an unreadable record among many; 100,000 unreadable records with flat memory and a recorded failure; imports of the wrong project
mod secrets; // no secret reaches a table, a history row or a log line; no API key from a flag or over plain http
mod sql_files; // BI queries on the sample data, comments on every column, the read-only role, the job's SQL from files
mod status; // ampsync status: runs table, row counts, --max-age, --json
mod storable; // records Postgres cannot store are rejected by id and field; text is stored as sent, printed escaped
mod sync; // the data path: first sync, no-op, changes, deletes, restores, as-of
mod unchanged; // a snapshot identical to the last one is recognised at once, and only then
mod upgrade; // landed migrations are frozen; databases 0.1.0, 0.2.0 and 0.3.1 wrote upgrade without false history
mod views; // sql/views: one current definition each, re-applied by migrate without locking out readers
