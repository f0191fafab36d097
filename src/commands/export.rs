//! `ampsync export`: the `List installations` response of one project as the tables hold
//! it now, or held it at an earlier time (from history): the inverse of `import`.
//!
//! The JSON is built by Postgres (`sql/export/installations.sql`), one installation per
//! row, from the stored `jsonb` and typed columns, so numbers in free-form values stay
//! exactly as stored. Rows are streamed from the server and written one by one: memory
//! does not grow with the project. Nothing is written to the database, so the command
//! needs no more than `ampersand_reader`'s rights and does not migrate.
//!
//! No secret can reach the output: tokens and API keys were never stored (see `bridge`),
//! and the `has_*` flags, which are not API fields, are not written.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::catalog::{hash_name, Table, BOOKKEEPING};
use crate::progress::{Progress, Unit};
use crate::shutdown::{Interrupted, Shutdown};

/// What `ampsync export` asks.
pub struct ExportRequest {
    /// The project's id, or a name an earlier sync stored.
    pub project: String,
    /// Export the state at this time instead of the current one.
    pub as_of: Option<DateTime<Utc>>,
    /// Write here (atomically) instead of to standard output.
    pub output: Option<PathBuf>,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub project_id: String,
    pub installations: u64,
}

/// Why an export failed; [`ExportError::exit_code`] says which exit code that is.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database holds no snapshot of the project: most likely a mistyped id or name
    /// (exit 2). The message lists the projects it does hold.
    #[error("project {project} has no applied snapshot in this database ({known}); pass --project with one of those ids")]
    UnknownProject { project: String, known: String },
    /// `--as-of` is before the project's first snapshot: nothing was known then (exit 2).
    #[error("project {project} has no snapshot observed at or before {at} (its first was observed at {first})")]
    BeforeFirstSnapshot {
        project: String,
        at: String,
        first: String,
    },
    /// `--as-of` is before the cutoff of a `prune --history`: the versions that ended
    /// before it are gone, so the export would be partial (exit 2).
    #[error("the history of project {project} before {since} was pruned (ampsync prune --history), so an export as of {at} would miss what changed before then; export as of {since} or later")]
    HistoryPruned {
        project: String,
        at: String,
        since: String,
    },
    /// A query failed (exit 1).
    #[error("reading the installations of project {project} (if this database was written by an older release, run `ampsync migrate` first)")]
    Read {
        project: String,
        #[source]
        source: sqlx::Error,
    },
    /// An installation holds a number PostgreSQL would print in more than 1,000 characters,
    /// which releases up to 0.3.1 stored (exit 1); a file named by `--output` is left as
    /// it was. Printed, one such record can take gigabytes (`1e131071` is 131,072 digits).
    #[error("installation {installation} of project {project} holds a number of more than 1,000 digits, which ampsync 0.3.1 and earlier stored and which would print as up to 131,072 characters; the export stops here rather than run out of memory (the number is in a jsonb column of that installation or of an object it embeds)")]
    UnprintableNumber {
        project: String,
        installation: String,
    },
    /// The output could not be written (exit 1); a file named by `--output` is left as it was.
    #[error("writing the export of project {project} to {target}")]
    Write {
        project: String,
        target: String,
        #[source]
        source: io::Error,
    },
    /// SIGTERM or SIGINT (exit 1); a file named by `--output` is left as it was.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl ExportError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ExportError::UnknownProject { .. }
            | ExportError::BeforeFirstSnapshot { .. }
            | ExportError::HistoryPruned { .. } => super::exit::USAGE,
            _ => super::exit::RUN_FAILED,
        }
    }
}

/// Exports one project, to `--output` or standard output.
pub async fn export(
    pool: &PgPool,
    req: &ExportRequest,
    mut shutdown: Shutdown,
) -> Result<Exported, ExportError> {
    let project_id = crate::run::ledger::resolve_project(pool, &req.project)
        .await
        .map_err(|e| ExportError::Read {
            project: req.project.clone(),
            source: e,
        })?;
    check_snapshots(pool, &project_id, req.as_of).await?;
    let started = Instant::now();
    let target = req
        .output
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let write_error = |source: io::Error| ExportError::Write {
        project: project_id.clone(),
        target: target.clone(),
        source,
    };
    // Writes happen on the blocking pool (`PoolWriter`): a pipe or FIFO whose reader
    // stalls must not keep a signal from stopping the export.
    let installations = match &req.output {
        None => {
            let mut out = crate::output::PoolWriter::start(io::stdout());
            let n = shutdown
                .interruptible(write_array(pool, &project_id, req.as_of, &mut out))
                .await??;
            out.finish().await.map_err(write_error)?;
            n
        }
        Some(path) => {
            // A regular file is written to a temporary file beside it and renamed over
            // it once complete: a failed or interrupted export leaves no half file (the
            // temporary one is removed when dropped). A device or FIFO is written to.
            let mut output = crate::output::Output::open_interruptible(path, &mut shutdown)
                .await
                .map_err(|e| match e {
                    crate::output::OutputError::Write { source, .. } => write_error(source),
                    crate::output::OutputError::Interrupted(i) => ExportError::Interrupted(i),
                })?;
            let file = output.file().try_clone().map_err(write_error)?;
            let mut out = crate::output::PoolWriter::start(file);
            let n = shutdown
                .interruptible(write_array(pool, &project_id, req.as_of, &mut out))
                .await??;
            out.finish().await.map_err(write_error)?;
            output.finish().map_err(write_error)?;
            n
        }
    };
    tracing::info!(
        project = %project_id,
        as_of = req.as_of.map(|t| t.to_rfc3339()),
        installations,
        output = %target,
        seconds = started.elapsed().as_secs_f64(),
        "exported"
    );
    // The installations response has no place for them: say so, so that nobody takes
    // the file for everything the database holds.
    tracing::info!(
        project = %project_id,
        "operations and their logs are not part of the export (the installations response has no place for them); query ampersand.operations and ampersand.operation_logs"
    );
    Ok(Exported {
        project_id,
        installations,
    })
}

/// Fails when the database has no snapshot of the project, none as old as `as_of`, or
/// no longer the whole history at `as_of`.
async fn check_snapshots(
    pool: &PgPool,
    project_id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<(), ExportError> {
    let read = |source| ExportError::Read {
        project: project_id.to_owned(),
        source,
    };
    let (first, history_since): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(include_str!("../../sql/export/snapshots.sql"))
            .bind(project_id)
            .fetch_one(pool)
            .await
            .map_err(read)?;
    let Some(first) = first else {
        let known: Vec<String> = sqlx::query_scalar(include_str!("../../sql/export/projects.sql"))
            .fetch_all(pool)
            .await
            .map_err(read)?;
        let known = if known.is_empty() {
            "it holds none".to_owned()
        } else {
            format!("it holds {}", known.join(", "))
        };
        return Err(ExportError::UnknownProject {
            project: crate::scrub::scrub_string(project_id.to_owned()),
            known: crate::scrub::scrub_string(known),
        });
    };
    match as_of {
        Some(at) if at < first => Err(ExportError::BeforeFirstSnapshot {
            project: project_id.to_owned(),
            at: at.to_rfc3339(),
            first: first.to_rfc3339(),
        }),
        Some(at) if history_since.is_some_and(|since| at < since) => {
            Err(ExportError::HistoryPruned {
                project: project_id.to_owned(),
                at: at.to_rfc3339(),
                since: history_since.map(|t| t.to_rfc3339()).unwrap_or_default(),
            })
        }
        _ => Ok(()),
    }
}

/// Streams the installations into `out` as one JSON array, one element per line;
/// returns how many were written.
async fn write_array(
    pool: &PgPool,
    project_id: &str,
    as_of: Option<DateTime<Utc>>,
    out: &mut crate::output::PoolWriter,
) -> Result<u64, ExportError> {
    let read = |source| ExportError::Read {
        project: project_id.to_owned(),
        source,
    };
    let progress = Progress::start("exporting", Unit::Installations, None);
    let counter = progress.counter();
    // Read only: the transaction only scopes the planner settings, and is rolled back.
    let mut tx = pool.begin().await.map_err(read)?;
    sqlx::query(include_str!("../../sql/export/plan.sql"))
        .execute(&mut *tx)
        .await
        .map_err(read)?;
    let columns: Vec<(String, String, String)> =
        sqlx::query_as(include_str!("../../sql/export/columns.sql"))
            .bind(EXPORTED.map(Table::name).as_slice())
            .fetch_all(&mut *tx)
            .await
            .map_err(read)?;
    let statement = fill_columns(include_str!("../../sql/export/installations.sql"), &columns);
    let mut rows = sqlx::query_as::<_, (String, Option<String>)>(&statement)
        .bind(project_id)
        .bind(as_of)
        .fetch(&mut *tx);
    let write_error = |source| ExportError::Write {
        project: project_id.to_owned(),
        target: "the output".to_owned(),
        source,
    };
    let mut written = 0u64;
    out.write(b"[").await.map_err(write_error)?;
    while let Some((id, row)) = rows.try_next().await.map_err(read)? {
        let Some(row) = row else {
            return Err(ExportError::UnprintableNumber {
                project: crate::scrub::scrub_string(project_id.to_owned()),
                installation: crate::scrub::scrub_string(id),
            });
        };
        let separator: &[u8] = if written == 0 { b"\n" } else { b",\n" };
        out.write(separator).await.map_err(write_error)?;
        out.write(row.as_bytes()).await.map_err(write_error)?;
        written += 1;
        counter.add(1);
    }
    let end: &[u8] = if written == 0 { b"]\n" } else { b"\n]\n" };
    out.write(end).await.map_err(write_error)?;
    Ok(written)
}

/// The tables whose rows make up an exported installation.
const EXPORTED: [Table; 6] = [
    Table::Groups,
    Table::Consumers,
    Table::ProviderApps,
    Table::Connections,
    Table::Configs,
    Table::Installations,
];

/// How the export writes a column: see `sql/export/installations.sql`.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// By hand, in the statement (a nested object's key, a token time, `extra`, ...), or
    /// not at all (a derived column, a secret's presence).
    ByHand,
    /// Under its API name, inside `jsonb_strip_nulls`: left out when null.
    Field(Cow<'static, str>),
    /// A free-form `jsonb` value under its API name, added when present, so that nulls
    /// inside it stay.
    Document(Cow<'static, str>),
}

/// How column `column` of `table`, of type `type_name` (as `format_type` prints it), is
/// written: a column that is a plain field of its object (its hash name has no dot and
/// no `@`) by the rule, every other one by hand.
fn written(table: Table, column: &str, type_name: &str) -> Written {
    match hash_name(table.spec(), column) {
        Some(name) if !name.contains('.') && !name.starts_with('@') => {
            if type_name == "jsonb" {
                Written::Document(name)
            } else {
                Written::Field(name)
            }
        }
        _ => Written::ByHand,
    }
}

/// The export statement with the markers of its template filled in from the columns of
/// the tables (`(table, column, type)` rows in table order, as `sql/export/columns.sql`
/// reads them):
/// - `/*columns T*/`: every column of `T` but the [`BOOKKEEPING`] ones, for the current
///   rows and the as-of rows alike;
/// - `/*fields T a*/`: `'apiName', a.column` pairs for `jsonb_build_object` (times as
///   RFC 3339 UTC with microseconds, arrays as JSON arrays);
/// - `/*documents T a*/`: `|| CASE WHEN a.column IS NULL ...` for the `jsonb` fields.
///
/// The alias is optional. A marker for a table without columns is left empty, which
/// Postgres then refuses: a database that was not migrated.
fn fill_columns(template: &str, columns: &[(String, String, String)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("/*") {
        let Some(len) = rest[start..].find("*/") else {
            break;
        };
        let marker = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match fill_marker(marker, columns) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The text of one marker (`columns T`, `fields T a`, `documents T a`); none for any
/// other comment.
fn fill_marker(marker: &str, columns: &[(String, String, String)]) -> Option<String> {
    let mut words = marker.split_whitespace();
    let kind = words.next()?;
    let table = Table::named(words.next()?)?;
    let qualifier = words
        .next()
        .map(|alias| format!("{alias}."))
        .unwrap_or_default();
    let of_table = columns
        .iter()
        .filter(|(t, _, _)| t == table.name())
        .filter(|(_, c, _)| !BOOKKEEPING.contains(&c.as_str()));
    let quoted = |column: &str| format!("{qualifier}\"{}\"", column.replace('"', "\"\""));
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let parts: Vec<String> = match kind {
        "columns" => of_table.map(|(_, c, _)| quoted(c)).collect(),
        "fields" => of_table
            .filter_map(|(_, c, ty)| match written(table, c, ty) {
                Written::Field(name) => Some((name, c, ty)),
                _ => None,
            })
            .map(|(name, c, ty)| {
                let value = if ty == "timestamp with time zone" {
                    format!(
                        "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                        quoted(c)
                    )
                } else if ty.ends_with("[]") {
                    format!("to_jsonb({})", quoted(c))
                } else {
                    quoted(c)
                };
                format!("{}, {value}", literal(&name))
            })
            .collect(),
        "documents" => of_table
            .filter_map(|(_, c, ty)| match written(table, c, ty) {
                Written::Document(name) => Some(format!(
                    "|| CASE WHEN {0} IS NULL THEN '{{}}' ELSE jsonb_build_object({1}, {0}) END",
                    quoted(c),
                    literal(&name)
                )),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    Some(parts.join(if kind == "documents" { " " } else { ", " }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(table: &str, list: &[(&str, &str)]) -> Vec<(String, String, String)> {
        list.iter()
            .map(|(c, ty)| (table.to_owned(), (*c).to_owned(), (*ty).to_owned()))
            .collect()
    }

    #[test]
    fn markers_are_filled_from_the_columns_by_their_api_names() {
        let columns = columns(
            "provider_apps",
            &[
                ("id", "text"),
                ("project_id", "text"),
                ("client_id", "text"),
                ("scopes", "text[]"),
                ("metadata", "jsonb"),
                ("create_time", "timestamp with time zone"),
                ("extra", "jsonb"),
                ("row_hash", "text"),
            ],
        );
        let filled = fill_columns(
            "SELECT /*columns provider_apps*/ /* a comment */ FROM t;\n\
             jsonb_build_object('projectId', a.project_id, /*fields provider_apps a*/) /*documents provider_apps a*/",
            &columns,
        );
        assert_eq!(
            filled,
            "SELECT \"id\", \"project_id\", \"client_id\", \"scopes\", \"metadata\", \"create_time\", \"extra\" /* a comment */ FROM t;\n\
             jsonb_build_object('projectId', a.project_id, 'id', a.\"id\", 'clientId', a.\"client_id\", \
             'scopes', to_jsonb(a.\"scopes\"), \
             'createTime', to_char(a.\"create_time\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) \
             || CASE WHEN a.\"metadata\" IS NULL THEN '{}' ELSE jsonb_build_object('metadata', a.\"metadata\") END"
        );
    }

    #[test]
    fn every_marker_of_the_export_names_an_exported_table() {
        let template = include_str!("../../sql/export/installations.sql");
        let mut markers = 0;
        for marker in template.split("/*").skip(1) {
            let marker = marker.split("*/").next().unwrap_or_default();
            let mut words = marker.split_whitespace();
            if let Some("columns" | "fields" | "documents") = words.next() {
                let table = words.next().and_then(Table::named);
                assert!(table.is_some_and(|t| EXPORTED.contains(&t)), "/*{marker}*/");
                markers += 1;
            }
        }
        assert_eq!(markers, 2 * 6 + 6 + 6);
    }
}
