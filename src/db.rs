//! Connections to the target Postgres: the run's data pool and the migration connection.
//!
//! Both are built from one [`PgConnectOptions`], which [`connect_options`] parses from
//! `DATABASE_URL` and the `PG*` environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `PGOPTIONS`) and
//! `~/.pgpass`, the way sqlx reads them: what the URL says wins over the environment.
//! Refinery's migrations run over a sqlx connection too (`Migrator`), so the two
//! connections cannot differ in TLS mode, trust store or credentials; only their
//! `application_name` does (`ampsync-migrate` for the schema owner's DDL, `ampsync` for
//! the data).
//!
//! TLS is sqlx's rustls code. What each `sslmode` does, and where that differs from libpq:
//!
//! | `sslmode` | sqlx (so ampsync) | libpq |
//! |---|---|---|
//! | `disable` | plain | same |
//! | `allow` | plain | plain, TLS if the server insists |
//! | `prefer` (default) | TLS if the server offers it, certificate not checked | same |
//! | `require` | TLS, certificate not checked, even with `sslrootcert` | with `sslrootcert`, checks like `verify-ca` |
//! | `verify-ca` | TLS, chain and host name checked (below) | chain checked, host name not |
//! | `verify-full` | TLS, chain and host name checked | same |
//!
//! The trust store for `verify-*` is not libpq's. sqlx starts from the public web PKI
//! roots (Mozilla's, bundled by `webpki-roots`) and *adds* the certificates of
//! `sslrootcert` to them (sqlx-core 0.8.6, `net/tls/tls_rustls.rs`: `certs_from_webpki()`,
//! then `cert_store.add` for each certificate of the file). libpq trusts only the
//! `sslrootcert` file, and without one reads `~/.postgresql/root.crt` or fails. So with
//! `verify-full` a certificate that any public CA issued for the server's host name is
//! accepted too, not only one signed by the named CA. `sslcrl` is not supported.
//!
//! `verify-ca` is meant to skip the host-name check, but sqlx 0.8.6 waives only
//! `CertificateError::NotValidForName`, and the rustls in `Cargo.lock` (0.23.46) reports
//! a mismatch as `NotValidForNameContext` (sqlx issue #3793; the fix is not in 0.8.6): the host name is checked
//! as under `verify-full`. Stricter than libpq, never looser.
//!
//! A `PGSSLMODE` that sqlx cannot read would silently mean `prefer`; [`connect_options`]
//! refuses it instead.
//!
//! Before migrating, the database's migration history is compared with the embedded
//! migrations ([`MigrationState`], which `ampsync check` reports too): a database that
//! holds a migration this binary does not know was migrated by a newer release, and is
//! refused ([`NewerDatabase`]) before anything is written, where refinery would only say
//! that a migration is "missing from the filesystem".
//!
//! Every session asks the server to notice a client that is gone ([`SESSION_SETTINGS`]):
//! a run killed with `kill -9` mid-statement cannot end its session, and without these
//! the server finishes the dead client's statement (which may wait on a lock for hours)
//! before it rolls back and frees the project's lock.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use refinery::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::Connection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::config::{database_passwords, is_password_parameter, ConfigError};

refinery::embed_migrations!("migrations");

/// Where refinery records the migrations that ran. Changing it would re-run them all.
const MIGRATION_TABLE: &str = "ampsync_schema_history";

/// The one Postgres configuration of a run: `DATABASE_URL` read with the `PG*`
/// environment as sqlx reads it. A URL or `PGSSLMODE` that cannot be read is a
/// configuration error (exit 2).
pub fn connect_options(database_url: &SecretString) -> Result<PgConnectOptions, ConfigError> {
    // sqlx takes a PGSSLMODE it cannot parse for `prefer`: a typo in `verify-full` would
    // turn certificate checks off without a word.
    if let Some(mode) = std::env::var_os("PGSSLMODE").filter(|m| !m.is_empty()) {
        if mode
            .to_str()
            .and_then(|m| m.parse::<PgSslMode>().ok())
            .is_none()
        {
            return Err(ConfigError(format!(
                "PGSSLMODE `{}` is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)",
                mode.to_string_lossy()
            )));
        }
    }
    PgConnectOptions::from_str(database_url.expose_secret()).map_err(|e| {
        ConfigError(format!(
            "DATABASE_URL {} is not a valid Postgres URL: {}",
            redacted_url(database_url),
            redact_error(&e.to_string(), database_url)
        ))
    })
}

/// Settings each session asks for, so that the server ends the session of a client that
/// died (`kill -9`, a lost host) within seconds, even mid-statement, and frees its locks
/// (the project's lock is a session lock). Each is set only where the server knows it
/// and nobody set it already (PGOPTIONS, the URL's `options`, a role or database
/// default, the server's configuration): a value someone chose wins.
///
/// - `client_connection_check_interval` (PostgreSQL 14+): while a statement runs or waits
///   for a lock, the server checks this often whether the client's socket is closed. A
///   killed process's socket is closed by its kernel, so this catches `kill -9`.
/// - `tcp_keepalives_*`: when the client's host is gone and no FIN ever came, keepalives
///   find out after idle + interval × count (30 s + 10 s × 3 here) instead of the
///   operating system's two hours. Ignored on a Unix socket.
///
/// And one for the write phase: `default_toast_compression` (PostgreSQL 14+) `lz4`, so
/// the large values a run writes (config content, `extra`, their history versions) are
/// compressed with lz4 rather than pglz, several times faster to compress and to read
/// back. Only how new values are stored changes: the values, hashes and `jsonb` are the
/// same, and values already stored keep their compression. A server built without lz4
/// refuses it, and the session keeps pglz.
pub const SESSION_SETTINGS: [(&str, &str); 5] = [
    ("client_connection_check_interval", "5s"),
    ("tcp_keepalives_idle", "30s"),
    ("tcp_keepalives_interval", "10s"),
    ("tcp_keepalives_count", "3"),
    ("default_toast_compression", "lz4"),
];

/// Applies [`SESSION_SETTINGS`] to a new session. A setting the server refuses (a
/// platform where `client_connection_check_interval` must stay 0, a build without lz4)
/// is skipped with a debug line: the session works as before, only without it.
async fn apply_session_settings(conn: &mut PgConnection) {
    for (name, value) in SESSION_SETTINGS {
        let set = sqlx::query_scalar::<_, bool>(include_str!("../sql/connect/setting.sql"))
            .bind(name)
            .bind(value)
            .fetch_one(&mut *conn)
            .await;
        match set {
            Ok(set) => tracing::trace!(setting = name, value, set, "session setting"),
            Err(e) => {
                tracing::debug!(setting = name, error = %e, "the server refused a session setting; skipped")
            }
        }
    }
}

/// A pool for the run's data and bookkeeping.
pub async fn connect(database_url: &SecretString) -> Result<PgPool> {
    let options = connect_options(database_url)?.application_name("ampsync");
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                apply_session_settings(conn).await;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
        .with_context(|| format!("could not connect to Postgres at {}", target(&options)))
}

/// One session on the target database, configured as every session of a run is
/// ([`SESSION_SETTINGS`]), named `application_name` in `pg_stat_activity`.
pub async fn connect_session(
    database_url: &SecretString,
    application_name: &str,
) -> Result<PgConnection> {
    let options = connect_options(database_url)?.application_name(application_name);
    let mut connection = PgConnection::connect_with(&options)
        .await
        .with_context(|| format!("could not connect to Postgres at {}", target(&options)))?;
    apply_session_settings(&mut connection).await;
    Ok(connection)
}

/// Applies the embedded migrations that have not run yet; returns how many ran. A
/// database a newer release migrated is refused before anything is written
/// ([`NewerDatabase`]): this binary's functions and views would replace that release's.
pub async fn migrate(database_url: &SecretString) -> Result<usize> {
    let mut connection = connect_session(database_url, "ampsync-migrate").await?;
    let state = migration_state(&mut connection)
        .await
        .context("reading the migrations the database has")?;
    if let Some(newer) = state.newer_database(&mut connection).await? {
        return Err(newer.into());
    }
    let mut migrator = Migrator(connection);
    let report = migrations::runner()
        .set_migration_table_name(MIGRATION_TABLE)
        .run_async(&mut migrator)
        .await
        .context("migrating the database")?;
    apply_functions(&mut migrator.0)
        .await
        .context("applying the functions of sql/functions and the views of sql/views")?;
    // The migrations are committed; a failed goodbye changes nothing.
    if let Err(e) = migrator.0.close().await {
        tracing::debug!(error = %e, "closing the migration connection");
    }
    Ok(report.applied_migrations().len())
}

/// Refuses, as [`migrate`] does, a database a newer release migrated: for a command that
/// writes with `--no-migrate`, which would otherwise run this binary's statements against
/// that release's tables, functions and views. Writes nothing. A role that may not read
/// the migration history (a job's role with only the tables' rights, say) is not refused
/// for that: the guard is skipped with a debug line, and the run goes on as before.
pub async fn refuse_newer_database(database_url: &SecretString) -> Result<()> {
    let mut connection = connect_session(database_url, "ampsync").await?;
    let newer = match migration_state(&mut connection).await {
        Ok(state) => state.newer_database(&mut connection).await,
        Err(e) => {
            tracing::debug!(error = %e, "could not read the migration history; not checked for a newer release");
            Ok(None)
        }
    };
    if let Err(e) = connection.close().await {
        tracing::debug!(error = %e, "closing the migration history's connection");
    }
    match newer? {
        Some(newer) => Err(newer.into()),
        None => Ok(()),
    }
}

/// A migration by version and name, as `V12 (operations)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    pub version: u32,
    pub name: String,
}

impl std::fmt::Display for MigrationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "V{} ({})", self.version, self.name)
    }
}

/// How the database's migrations stand against the ones this binary embeds. Read
/// without writing: a database never migrated has every migration pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Applied and embedded alike, oldest first.
    pub applied: Vec<MigrationName>,
    /// Embedded, not applied yet: what `ampsync migrate` would apply.
    pub pending: Vec<MigrationName>,
    /// Applied, but unknown to this binary: a newer release migrated the database.
    pub unknown: Vec<MigrationName>,
    /// Applied with a checksum other than this binary's file of that version (an edited
    /// migration; refinery refuses to migrate over it).
    pub divergent: Vec<MigrationName>,
    /// The newest migration this binary embeds.
    pub newest_known: Option<MigrationName>,
}

/// The database holds migrations this binary does not know (exit 1). Nothing was
/// written: migrating would replace the newer release's functions and views with this
/// one's.
#[derive(Debug, thiserror::Error)]
#[error("{}; {upgrade}", self.found())]
pub struct NewerDatabase {
    pub newest_applied: MigrationName,
    pub newest_known: String,
    /// What to do, with the newest release the run ledger saw when it saw one.
    pub upgrade: String,
}

impl NewerDatabase {
    /// What is wrong, naming both versions (the message less what to do).
    pub fn found(&self) -> String {
        format!(
            "the database was migrated by a newer release of ampsync: it has migration {}, and this ampsync {} knows migrations up to {}",
            self.newest_applied,
            env!("CARGO_PKG_VERSION"),
            self.newest_known
        )
    }
}

impl MigrationState {
    /// Compares applied migrations (version, name, checksum as refinery writes it) with
    /// the embedded ones.
    pub fn compare(applied: &[(i32, String, Option<String>)], embedded: &[Migration]) -> Self {
        let name = |m: &Migration| MigrationName {
            version: m.version(),
            name: m.name().to_owned(),
        };
        let mut state = MigrationState {
            applied: Vec::new(),
            pending: Vec::new(),
            unknown: Vec::new(),
            divergent: Vec::new(),
            newest_known: embedded.iter().max_by_key(|m| m.version()).map(name),
        };
        for (version, applied_name, checksum) in applied {
            let found = u32::try_from(*version)
                .ok()
                .and_then(|v| embedded.iter().find(|m| m.version() == v));
            let recorded = MigrationName {
                version: u32::try_from(*version).unwrap_or(0),
                name: applied_name.clone(),
            };
            match found {
                None => state.unknown.push(recorded),
                Some(m) if checksum.as_deref() != Some(m.checksum().to_string().as_str()) => {
                    state.divergent.push(recorded)
                }
                Some(_) => state.applied.push(recorded),
            }
        }
        let mut pending: Vec<&Migration> = embedded
            .iter()
            .filter(|m| {
                !applied
                    .iter()
                    .any(|(v, _, _)| u32::try_from(*v) == Ok(m.version()))
            })
            .collect();
        pending.sort_by_key(|m| m.version());
        state.pending = pending.into_iter().map(name).collect();
        state
    }

    /// The refusal a migrating command gives, when the database holds migrations this
    /// binary does not know; the newest release the ledger recorded names the upgrade.
    pub async fn newer_database(&self, conn: &mut PgConnection) -> Result<Option<NewerDatabase>> {
        let Some(newest_applied) = self.unknown.iter().max_by_key(|m| m.version).cloned() else {
            return Ok(None);
        };
        let release = newest_release(conn)
            .await
            .context("reading which releases ran against the database")?
            .filter(|release| is_newer_release(release, env!("CARGO_PKG_VERSION")));
        let upgrade = match release {
            Some(release) => format!(
                "upgrade ampsync to {release} or later (the newest release whose runs sync_runs records)"
            ),
            None => format!("upgrade ampsync to a release that has migration V{}", newest_applied.version),
        };
        Ok(Some(NewerDatabase {
            newest_applied,
            newest_known: self
                .newest_known
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string),
            upgrade,
        }))
    }
}

/// The database's migrations against this binary's, read without writing.
pub async fn migration_state(conn: &mut PgConnection) -> Result<MigrationState> {
    let embedded = migrations::runner();
    let applied: Vec<(i32, String, Option<String>)> =
        if relation_exists(conn, MIGRATION_TABLE).await? {
            sqlx::query_as(include_str!("../sql/migrate/history.sql"))
                .fetch_all(&mut *conn)
                .await
                .with_context(|| format!("reading {MIGRATION_TABLE}"))?
        } else {
            Vec::new()
        };
    Ok(MigrationState::compare(&applied, embedded.get_migrations()))
}

/// Whether the table `name` exists, as the session's search path finds it.
pub async fn relation_exists(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(include_str!("../sql/migrate/relation_exists.sql"))
        .bind(name)
        .fetch_one(conn)
        .await
}

/// The newest ampsync version `sync_runs` records, if the table exists and has one: the
/// one read of the run ledger outside `run::ledger`, since the refusal to migrate comes
/// before any stage runs (and this plumbing imports none).
async fn newest_release(conn: &mut PgConnection) -> sqlx::Result<Option<String>> {
    if !relation_exists(conn, "ampersand.sync_runs").await? {
        return Ok(None);
    }
    sqlx::query_scalar(include_str!("../sql/migrate/newest_release.sql"))
        .fetch_optional(conn)
        .await
}

/// Whether `release` (major.minor.patch, anything after ignored) is newer than `than`.
fn is_newer_release(release: &str, than: &str) -> bool {
    let numbers = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    numbers(release) > numbers(than)
}

/// The functions that plan and write history, each with its one current definition in
/// `sql/functions/`, in an order where each comes after those it calls. Like Flyway's
/// repeatable migrations, they are applied after the versioned ones on every `migrate`,
/// with `CREATE OR REPLACE`: a release changes a function by editing its file, never by
/// editing a landed migration.
const FUNCTIONS: [(&str, &str); 14] = [
    (
        "synced_table",
        include_str!("../sql/functions/synced_table.sql"),
    ),
    (
        "table_columns",
        include_str!("../sql/functions/table_columns.sql"),
    ),
    (
        "key_columns",
        include_str!("../sql/functions/key_columns.sql"),
    ),
    ("key_match", include_str!("../sql/functions/key_match.sql")),
    (
        "owner_column",
        include_str!("../sql/functions/owner_column.sql"),
    ),
    (
        "count_rows",
        include_str!("../sql/functions/count_rows.sql"),
    ),
    (
        "reached_keys",
        include_str!("../sql/functions/reached_keys.sql"),
    ),
    (
        "begin_plan",
        include_str!("../sql/functions/begin_plan.sql"),
    ),
    (
        "plan_table",
        include_str!("../sql/functions/plan_table.sql"),
    ),
    (
        "prepare_stage",
        include_str!("../sql/functions/prepare_stage.sql"),
    ),
    (
        "merge_stage",
        include_str!("../sql/functions/merge_stage.sql"),
    ),
    (
        "delete_planned",
        include_str!("../sql/functions/delete_planned.sql"),
    ),
    (
        "prune_history",
        include_str!("../sql/functions/prune_history.sql"),
    ),
    (
        "replace_view",
        include_str!("../sql/functions/replace_view.sql"),
    ),
];

/// The views for the people who query, each with its one current definition in
/// `sql/views/`, applied after [`FUNCTIONS`] on every `migrate` as they are. A view is
/// recreated only when its definition changed (`ampersand.replace_view`): every command
/// migrates, and replacing a view locks out its readers. The migrations that first
/// created them (V3, V4, V9) stay as they landed; those of operations (V12 onwards) exist
/// only here.
const VIEWS: [(&str, &str); 8] = [
    ("change_log", include_str!("../sql/views/change_log.sql")),
    (
        "installation_overview",
        include_str!("../sql/views/installation_overview.sql"),
    ),
    (
        "config_read_objects",
        include_str!("../sql/views/config_read_objects.sql"),
    ),
    (
        "connection_funnel",
        include_str!("../sql/views/connection_funnel.sql"),
    ),
    (
        "operation_failures_per_day",
        include_str!("../sql/views/operation_failures_per_day.sql"),
    ),
    (
        "unhealthy_installation_last_failure",
        include_str!("../sql/views/unhealthy_installation_last_failure.sql"),
    ),
    (
        "records_processed_per_day",
        include_str!("../sql/views/records_processed_per_day.sql"),
    ),
    (
        "operations_in_progress",
        include_str!("../sql/views/operations_in_progress.sql"),
    ),
];

/// Applies [`FUNCTIONS`], then [`VIEWS`], in one transaction. Two jobs migrating at once take turns (an
/// advisory lock for the transaction), since concurrent `CREATE OR REPLACE` of one
/// function fails.
async fn apply_functions(conn: &mut PgConnection) -> Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query(include_str!("../sql/migrate/lock_functions.sql"))
        .execute(&mut *tx)
        .await?;
    for (name, sql) in FUNCTIONS {
        // Several statements (the function and its comment): one simple query.
        sqlx::Executor::execute(&mut *tx, sql)
            .await
            .with_context(|| format!("sql/functions/{name}.sql"))?;
    }
    for (name, sql) in VIEWS {
        sqlx::Executor::execute(&mut *tx, sql)
            .await
            .with_context(|| format!("sql/views/{name}.sql"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Where a connection goes, for messages: user, host, port, database and `sslmode` as
/// the options hold them (the environment included), and never the password.
fn target(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let database = options
        .get_database()
        .map(|d| format!("/{d}"))
        .unwrap_or_default();
    let mode = match options.get_ssl_mode() {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    };
    format!(
        "{}@{place}{database} (sslmode={mode})",
        options.get_username()
    )
}

/// The URL without its password (userinfo or `password=` parameter), for messages.
pub fn redacted_url(database_url: &SecretString) -> String {
    let Ok(mut url) = Url::parse(database_url.expose_secret()) else {
        return "(unparseable DATABASE_URL)".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url
        .query_pairs()
        .any(|(name, _)| is_password_parameter(&name))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_password_parameter(&name) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Removes every form of the database password from an error text that might quote it.
fn redact_error(text: &str, database_url: &SecretString) -> String {
    let mut passwords = database_passwords(database_url);
    // Longest first, so a form that contains another is replaced whole.
    passwords.sort_by_key(|p| std::cmp::Reverse(p.expose_secret().len()));
    passwords.iter().fold(text.to_owned(), |text, password| {
        text.replace(password.expose_secret(), "***")
    })
}

/// The migration connection as refinery's async driver: what refinery's own
/// tokio-postgres driver does, over sqlx. Refinery writes its history rows with its own
/// SQL whatever the driver (checksum as decimal text, `applied_on` as RFC 3339 text), so
/// a database migrated before the switch reads the same.
struct Migrator(PgConnection);

#[async_trait]
impl AsyncTransaction for Migrator {
    type Error = sqlx::Error;

    /// Runs `queries` in one transaction. Each may hold several statements (a migration
    /// file), so each goes as one simple query, which is what sqlx sends for a bare `&str`
    /// (no arguments, no prepared statement), as tokio-postgres' `batch_execute` did. The
    /// texts are the files of `migrations/`, embedded at build time, and refinery's own
    /// statements for its history table: nothing a run reads.
    async fn execute(&mut self, queries: &[&str]) -> Result<usize, sqlx::Error> {
        let mut transaction = self.0.begin().await?;
        for query in queries {
            sqlx::Executor::execute(&mut *transaction, *query).await?;
        }
        transaction.commit().await?;
        Ok(queries.len())
    }
}

#[async_trait]
impl AsyncQuery<Vec<Migration>> for Migrator {
    /// Reads the applied migrations: rows of `version, name, applied_on, checksum`.
    async fn query(&mut self, query: &str) -> Result<Vec<Migration>, sqlx::Error> {
        let mut transaction = self.0.begin().await?;
        let rows: Vec<HistoryRow> = sqlx::query_as(query).fetch_all(&mut *transaction).await?;
        transaction.commit().await?;
        rows.into_iter().map(applied_migration).collect()
    }
}

impl AsyncMigrate for Migrator {}

/// A row of the migration history table, whose text columns refinery declares nullable.
type HistoryRow = (i32, Option<String>, Option<String>, Option<String>);

fn applied_migration(
    (version, name, applied_on, checksum): HistoryRow,
) -> Result<Migration, sqlx::Error> {
    let bad = |what: String| {
        sqlx::Error::Decode(format!("{MIGRATION_TABLE} row of version {version}: {what}").into())
    };
    let name = name.ok_or_else(|| bad("no name".into()))?;
    let applied_on = applied_on.ok_or_else(|| bad("no applied_on".into()))?;
    let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339).map_err(|e| {
        bad(format!(
            "applied_on `{applied_on}` is not an RFC 3339 time: {e}"
        ))
    })?;
    let checksum = checksum.ok_or_else(|| bad("no checksum".into()))?;
    let checksum = checksum
        .parse::<u64>()
        .map_err(|e| bad(format!("checksum `{checksum}` is not a u64: {e}")))?;
    Ok(Migration::applied(version, name, applied_on, checksum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(url: &str) -> SecretString {
        SecretString::from(url.to_owned())
    }

    #[test]
    fn redacted_urls_hold_neither_a_userinfo_nor_a_query_password() {
        let userinfo = redacted_url(&secret("postgres://u:Pg-s3cr3t%2FQ9wX7vL2@db:5432/x"));
        assert_eq!(userinfo, "postgres://u:***@db:5432/x");
        let query = redacted_url(&secret(
            "postgres://u@db/x?sslmode=verify-full&password=Pg-s3cr3t%2FQ9wX7vL2&sslpassword=k3y-Pa55-word",
        ));
        assert!(
            !query.contains("Q9wX7vL2") && !query.contains("Pa55"),
            "{query}"
        );
        assert!(query.contains("sslmode=verify-full"), "{query}");
        assert!(query.contains("password=***"), "{query}");
        let plain = "postgres://u@db/x?sslmode=require";
        assert_eq!(redacted_url(&secret(plain)), plain);
    }

    #[test]
    fn error_texts_lose_the_password_in_every_spelling() {
        let url = secret("postgres://u@db/x?password=Pg+s3cr3t%2FQ9wX7vL2");
        for quoted in [
            "Pg+s3cr3t%2FQ9wX7vL2",
            "Pg s3cr3t/Q9wX7vL2",
            "Pg%20s3cr3t%2FQ9wX7vL2",
        ] {
            let text = redact_error(&format!("bad value `{quoted}`"), &url);
            assert_eq!(text, "bad value `***`");
        }
    }

    #[test]
    fn connection_targets_name_the_place_and_the_sslmode_but_not_the_password() {
        let options = PgConnectOptions::from_str(
            "postgres://u:Pg-s3cr3t@db.internal:6432/x?sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(
            target(&options),
            "u@db.internal:6432/x (sslmode=verify-full)"
        );
        let options = PgConnectOptions::from_str(
            "postgres://u@db.internal/x?password=Pg-s3cr3t&sslmode=disable",
        )
        .unwrap();
        assert!(!target(&options).contains("s3cr3t"));
    }

    #[test]
    fn history_rows_as_refinery_writes_them_are_read_back() {
        // A row the tokio-postgres driver wrote (from a database migrated before the switch).
        let row = (
            3,
            Some("history_queries".to_owned()),
            Some("2026-12-01T21:33:51.208010595Z".to_owned()),
            Some("12921757252137217636".to_owned()),
        );
        let migration = applied_migration(row).unwrap();
        assert_eq!(migration.version(), 3);
        assert_eq!(migration.name(), "history_queries");
        assert_eq!(migration.checksum(), 12921757252137217636);
        assert_eq!(
            migration.applied_on().unwrap().unix_timestamp(),
            1_796_160_831
        );
    }

    #[test]
    fn a_history_row_that_cannot_be_read_is_an_error_that_names_it() {
        let row = (
            2,
            Some("history".into()),
            Some("yesterday".into()),
            Some("1".into()),
        );
        let error = applied_migration(row).unwrap_err().to_string();
        assert!(
            error.contains("version 2") && error.contains("yesterday"),
            "{error}"
        );
        let row = (
            2,
            Some("history".into()),
            Some("2026-12-01T21:33:51Z".into()),
            None,
        );
        assert!(applied_migration(row)
            .unwrap_err()
            .to_string()
            .contains("no checksum"));
    }

    fn embedded() -> Vec<Migration> {
        ["V1__tables.sql", "V2__history.sql", "V3__more.sql"]
            .iter()
            .map(|file| Migration::unapplied(file, &format!("-- {file}")).unwrap())
            .collect()
    }

    fn applied(migrations: &[Migration]) -> Vec<(i32, String, Option<String>)> {
        migrations
            .iter()
            .map(|m| {
                (
                    m.version() as i32,
                    m.name().to_owned(),
                    Some(m.checksum().to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn a_database_never_migrated_has_every_migration_pending() {
        let state = MigrationState::compare(&[], &embedded());
        let pending: Vec<String> = state.pending.iter().map(ToString::to_string).collect();
        assert_eq!(pending, ["V1 (tables)", "V2 (history)", "V3 (more)"]);
        assert!(state.applied.is_empty() && state.unknown.is_empty());
        assert_eq!(state.newest_known.unwrap().to_string(), "V3 (more)");
    }

    #[test]
    fn applied_migrations_leave_the_rest_pending_and_newer_ones_are_unknown() {
        let embedded = embedded();
        let mut history = applied(&embedded[..2]);
        let state = MigrationState::compare(&history, &embedded);
        assert_eq!(state.applied.len(), 2);
        assert_eq!(state.pending[0].version, 3);

        history = applied(&embedded);
        history.push((4, "from_the_future".into(), Some("1".into())));
        let state = MigrationState::compare(&history, &embedded);
        assert!(state.pending.is_empty());
        assert_eq!(state.unknown[0].to_string(), "V4 (from_the_future)");
    }

    #[test]
    fn a_migration_applied_with_another_checksum_is_divergent() {
        let embedded = embedded();
        let mut history = applied(&embedded);
        history[1].2 = Some("12345".into());
        let state = MigrationState::compare(&history, &embedded);
        assert_eq!(state.divergent[0].to_string(), "V2 (history)");
        assert_eq!(state.applied.len(), 2);
    }

    #[test]
    fn releases_compare_by_their_numbers() {
        assert!(is_newer_release("0.10.0", "0.4.0"));
        assert!(is_newer_release("0.4.1", "0.4.0"));
        assert!(!is_newer_release("0.4.0", "0.4.0"));
        assert!(!is_newer_release("0.3.9-rc.1", "0.4.0"));
    }
}
