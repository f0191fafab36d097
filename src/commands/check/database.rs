//! The checks of the target database, each read-only: the server (version, TLS), the
//! migrations against this binary's, the role's privileges, the reader role, and a
//! project's lock (read from `pg_locks`, never taken).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Check, CheckRequest};
use crate::db::{self, MigrationState};

/// The PostgreSQL majors ampsync is tested on (see the README, Testing).
const SUPPORTED: std::ops::RangeInclusive<i32> = 14..=18;

/// The `postgres` check of a database that could not be reached.
pub fn unreachable(error: &anyhow::Error) -> Check {
    Check::failed(
        "postgres",
        crate::error::message(error),
        "check DATABASE_URL (host, port, database, user, password, sslmode) and that the server accepts connections from here",
    )
}

/// Every check of the database but the locks, in order.
pub async fn checks(conn: &mut PgConnection, req: &CheckRequest<'_>) -> Vec<Check> {
    let state = db::migration_state(conn).await;
    vec![
        server(conn).await,
        match &state {
            Ok(state) => migrations(conn, state, req.no_migrate).await,
            Err(e) => Check::failed(
                "migrations",
                format!("could not read the migration history: {}", crate::error::message(e)),
                "let the role read table ampsync_schema_history (GRANT SELECT ON ampsync_schema_history TO the role), or connect as the role that migrates",
            ),
        },
        privileges(conn, req.no_migrate).await,
        reader_role(conn, req.reader_role).await,
    ]
}

#[derive(sqlx::FromRow)]
struct Server {
    version_num: i32,
    version: String,
    ssl: bool,
    tls_version: Option<String>,
    cipher: Option<String>,
}

/// The server answers; its major, whether ampsync supports it, and whether this
/// session is encrypted.
async fn server(conn: &mut PgConnection) -> Check {
    const NAME: &str = "postgres";
    let server: Server = match sqlx::query_as(include_str!("../../../sql/check/server.sql"))
        .fetch_one(&mut *conn)
        .await
    {
        Ok(server) => server,
        Err(e) => {
            return Check::failed(
                NAME,
                format!("connected, but could not read the server's version: {e}"),
                "check that DATABASE_URL names a PostgreSQL server",
            )
        }
    };
    let major = server.version_num / 10_000;
    let tls = if server.ssl {
        format!(
            "TLS ({}, {})",
            server.tls_version.as_deref().unwrap_or("unknown version"),
            server.cipher.as_deref().unwrap_or("unknown cipher")
        )
    } else {
        "not encrypted".to_owned()
    };
    let detail = format!(
        "PostgreSQL {} (major {major}, supported: {}-{}); connection {tls}",
        server.version,
        SUPPORTED.start(),
        SUPPORTED.end()
    );
    if major < *SUPPORTED.start() {
        Check::failed(
            NAME,
            detail,
            format!(
                "upgrade the server to PostgreSQL {} or newer",
                SUPPORTED.start()
            ),
        )
    } else if major > *SUPPORTED.end() {
        Check::warn(
            NAME,
            detail,
            format!(
                "ampsync is tested on PostgreSQL {} to {}; run its tests against this server (README, Testing)",
                SUPPORTED.start(),
                SUPPORTED.end()
            ),
        )
    } else {
        Check::ok(NAME, detail)
    }
}

/// Applied, pending, or ahead of this binary (a database a newer release migrated).
async fn migrations(conn: &mut PgConnection, state: &MigrationState, no_migrate: bool) -> Check {
    const NAME: &str = "migrations";
    match state.newer_database(conn).await {
        Ok(Some(newer)) => return Check::failed(NAME, newer.found(), newer.upgrade),
        Ok(None) => {}
        Err(e) => {
            return Check::failed(
                NAME,
                crate::error::message(&e),
                "let the role read ampersand.sync_runs",
            )
        }
    }
    if !state.divergent.is_empty() {
        return Check::failed(
            NAME,
            format!(
                "the database applied {} from a file other than this binary's (edited after it landed); ampsync refuses to migrate over it",
                names(&state.divergent)
            ),
            "run the release that migrated this database, or restore its migration history",
        );
    }
    let newest = state
        .newest_known
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string);
    if state.pending.is_empty() {
        return Check::ok(
            NAME,
            format!("all {} applied (newest {newest})", state.applied.len()),
        );
    }
    let pending = match (state.applied.as_slice(), state.pending.as_slice()) {
        ([], [first, .., last]) => format!(
            "a database never migrated: all {} pending, {first} to {last}",
            state.pending.len()
        ),
        _ => format!(
            "{} of {} pending: {}",
            state.pending.len(),
            state.pending.len() + state.applied.len(),
            names(&state.pending)
        ),
    };
    if no_migrate {
        Check::failed(
            NAME,
            pending,
            "run `ampsync migrate` (as the schema's owner) before a job that runs with --no-migrate",
        )
    } else {
        Check::warn(
            NAME,
            pending,
            "the next sync applies them first; or run `ampsync migrate` now",
        )
    }
}

fn names(migrations: &[db::MigrationName]) -> String {
    migrations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(sqlx::FromRow)]
struct Privileges {
    role: String,
    database: String,
    may_create_schema: bool,
    may_create_temporary: bool,
    schema_owner: Option<String>,
    acts_as_owner: Option<bool>,
    may_use_schema: Option<bool>,
    tables_not_writable: Option<Vec<String>>,
}

/// The role may do what a sync does: migrate (create the schema, or act as its owner),
/// plan in temporary tables, and read and write every table of the schema.
async fn privileges(conn: &mut PgConnection, no_migrate: bool) -> Check {
    const NAME: &str = "privileges";
    let p: Privileges = match sqlx::query_as(include_str!("../../../sql/check/privileges.sql"))
        .fetch_one(&mut *conn)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            return Check::failed(
                NAME,
                format!("could not read the role's privileges: {e}"),
                "connect as the role the job uses",
            )
        }
    };
    let (role, database) = (&p.role, &p.database);
    let mut missing = Vec::new();
    let mut grants = Vec::new();
    if !p.may_create_temporary {
        missing.push(format!(
            "TEMPORARY on database {database} (every apply plans in temporary tables)"
        ));
        grants.push(format!("GRANT TEMPORARY ON DATABASE {database} TO {role}"));
    }
    let Some(owner) = &p.schema_owner else {
        if !p.may_create_schema {
            missing.push(format!(
                "CREATE on database {database} (the first migrate creates schema ampersand)"
            ));
            grants.push(format!(
                "GRANT CREATE ON DATABASE {database} TO {role}; or, as a superuser, CREATE SCHEMA ampersand AUTHORIZATION {role}"
            ));
        }
        return verdict(
            role,
            missing,
            grants,
            format!("role {role} may create schema ampersand in database {database} (the first migrate does) and temporary tables"),
        );
    };
    if !no_migrate && p.acts_as_owner != Some(true) {
        missing.push(format!(
            "the rights of schema ampersand's owner {owner} (every migrate replaces its functions and views)"
        ));
        grants.push(format!(
            "connect as {owner}, or GRANT {owner} TO {role}; or migrate as {owner} and run the job with --no-migrate"
        ));
    }
    if p.may_use_schema != Some(true) {
        missing.push("USAGE on schema ampersand".to_owned());
        grants.push(format!("GRANT USAGE ON SCHEMA ampersand TO {role}"));
    }
    if let Some(tables) = p.tables_not_writable.filter(|t| !t.is_empty()) {
        missing.push(format!(
            "SELECT, INSERT, UPDATE and DELETE on {} table(s) of schema ampersand ({})",
            tables.len(),
            abbreviated(&tables)
        ));
        grants.push(format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ampersand TO {role}"
        ));
    }
    let owner_note = if p.acts_as_owner == Some(true) {
        format!(", with the rights of schema ampersand's owner {owner}")
    } else {
        String::new()
    };
    verdict(
        role,
        missing,
        grants,
        format!("role {role} may read and write every table of schema ampersand and create temporary tables{owner_note}"),
    )
}

fn verdict(role: &str, missing: Vec<String>, grants: Vec<String>, ok: String) -> Check {
    if missing.is_empty() {
        Check::ok("privileges", ok)
    } else {
        Check::failed(
            "privileges",
            format!("role {role} lacks {}", missing.join("; ")),
            grants.join("; "),
        )
    }
}

/// The first few names, and how many more.
fn abbreviated(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", and {} more", names.len() - SHOWN));
    }
    text
}

/// The read-only role for BI tools exists and may read the schema. A sync does not need
/// it, so its absence is a warning.
async fn reader_role(conn: &mut PgConnection, reader: &str) -> Check {
    const NAME: &str = "reader_role";
    const FIX: &str = "run `psql \"$DATABASE_URL\" -f sql/roles.sql` once, as the schema's owner, after the first migrate";
    let exists: bool = match sqlx::query_scalar(include_str!("../../../sql/check/reader_role.sql"))
        .bind(reader)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(exists) => exists,
        Err(e) => return Check::warn(NAME, format!("could not look up role {reader}: {e}"), FIX),
    };
    if !exists {
        return Check::warn(NAME, format!("role {reader} does not exist"), FIX);
    }
    match db::relation_exists(conn, "ampersand.sync_runs").await {
        Ok(true) => {}
        Ok(false) => {
            return Check::warn(
                NAME,
                format!(
                    "role {reader} exists; schema ampersand does not yet, so it can read nothing"
                ),
                FIX,
            )
        }
        Err(e) => return Check::warn(NAME, e.to_string(), FIX),
    }
    let unreadable: Option<Vec<String>> =
        match sqlx::query_scalar(include_str!("../../../sql/check/reader_rights.sql"))
            .bind(reader)
            .fetch_one(&mut *conn)
            .await
        {
            Ok(unreadable) => unreadable,
            Err(e) => {
                return Check::warn(
                    NAME,
                    format!("could not read the rights of {reader}: {e}"),
                    FIX,
                )
            }
        };
    match unreadable.filter(|u| !u.is_empty()) {
        None => Check::ok(
            NAME,
            format!("role {reader} exists and may read schema ampersand"),
        ),
        Some(unreadable) => Check::warn(
            NAME,
            format!("role {reader} cannot read {}", abbreviated(&unreadable)),
            FIX,
        ),
    }
}

#[derive(sqlx::FromRow)]
struct LockSession {
    pid: i32,
    backend_start: Option<DateTime<Utc>>,
    application_name: Option<String>,
}

/// No other run holds the project's lock; if one does, which run, where, since when.
pub async fn lock(conn: &mut PgConnection, project_id: &str) -> Check {
    const NAME: &str = "lock";
    let session: Option<LockSession> =
        match sqlx::query_as(include_str!("../../../sql/check/lock_session.sql"))
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await
        {
            Ok(session) => session,
            Err(e) => {
                return Check::failed(
                    NAME,
                    format!("could not read pg_locks: {e}"),
                    "connect as the role the job uses",
                )
            }
        };
    let Some(session) = session else {
        return Check::ok(
            NAME,
            format!("no run holds the lock of project {project_id}"),
        );
    };
    let run = match db::relation_exists(conn, "ampersand.sync_runs").await {
        Ok(true) => crate::run::ledger::holder(conn, project_id)
            .await
            .unwrap_or_else(|e| format!("a run (sync_runs could not be read: {e})")),
        _ => "a run".to_owned(),
    };
    let since = session
        .backend_start
        .map(|t| format!(", connected since {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
        .unwrap_or_default();
    let application = session
        .application_name
        .filter(|a| !a.is_empty())
        .map(|a| format!(" `{a}`"))
        .unwrap_or_default();
    Check::failed(
        NAME,
        format!(
            "{run} holds the lock of project {project_id} (Postgres session{application} pid {}{since}); a sync now would exit 75",
            session.pid
        ),
        format!(
            "wait for that run to finish, or give the job --wait; if its process is gone, the server ends its session within about a minute, or at once with SELECT pg_terminate_backend({})",
            session.pid
        ),
    )
}
