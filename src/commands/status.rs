//! `ampsync status`: the latest runs, row counts and freshness per project, as a table
//! for people or JSON for machines. It exits non-zero when a project's latest run
//! failed or its last success is older than `--max-age`, so it doubles as a probe.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::scrub::{scrub_string, scrub_text};

#[derive(Debug, Serialize, FromRow)]
pub struct RunRow {
    pub id: i64,
    pub command: String,
    pub project: String,
    pub group_ref: Option<String>,
    pub status: String,
    pub observed_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_deleted: i64,
    pub rejected: i64,
    /// Of those, how many were stored without their payload (past the run's cap).
    pub rejected_without_payload: i64,
    pub deletions_skipped_reason: Option<String>,
    pub error: Option<String>,
    /// The lists the API would not give the run (`connections,provider_apps`).
    pub lists_unavailable: Option<String>,
    /// What the sync read of operations (`sync_runs.operations`), when it read any.
    pub operations: Option<sqlx::types::Json<serde_json::Value>>,
}

/// An installation whose last operations read failed (see `operations`).
#[derive(Debug, Serialize, FromRow)]
pub struct OperationFailure {
    #[serde(serialize_with = "scrubbed")]
    pub project: String,
    #[serde(serialize_with = "scrubbed")]
    pub installation_id: String,
    pub failed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "scrubbed")]
    pub error: String,
}

#[derive(Debug, Serialize, FromRow)]
pub struct Freshness {
    /// As the ledger holds it: each output escapes it its own way (see [`Status`]).
    #[serde(serialize_with = "scrubbed")]
    pub project: String,
    pub last_status: String,
    pub last_success: Option<DateTime<Utc>>,
    /// The latest run: when it finished (none while it runs), how long it took, what it
    /// wrote and rejected.
    pub last_finished: Option<DateTime<Utc>>,
    pub last_seconds: Option<f64>,
    pub last_rows_inserted: i64,
    pub last_rows_updated: i64,
    pub last_rows_deleted: i64,
    pub last_rejected: i64,
}

/// How many runs of a project the ledger holds with one outcome.
#[derive(Debug, Serialize, FromRow)]
pub struct RunsByStatus {
    /// As the ledger holds it (see [`Status`]).
    #[serde(serialize_with = "scrubbed")]
    pub project: String,
    pub status: String,
    pub runs: i64,
}

#[derive(Debug, Serialize, FromRow)]
pub struct RowCount {
    pub table_name: String,
    pub live: i64,
    pub deleted: i64,
}

/// What `status` knows. The latest runs are scrubbed as they are read, for the table and
/// JSON; the project ids of [`Freshness`] and [`RunsByStatus`] are kept as the ledger
/// holds them, since they name series: two ids that only scrubbing would make equal
/// (`e\nf` and `e f`) must stay two. The table and JSON scrub them where they print
/// them, and the OpenMetrics exposition escapes them as its format says.
#[derive(Debug, Serialize)]
pub struct Status {
    pub runs: Vec<RunRow>,
    pub projects: Vec<Freshness>,
    pub runs_by_status: Vec<RunsByStatus>,
    pub rows: Vec<RowCount>,
    /// Installations whose last operations read failed, newest failure first (at most
    /// [`OPERATION_FAILURES_SHOWN`]), and how many there are in all. They do not fail
    /// the probe: the snapshot was applied, and the next runs try them again.
    pub operation_failures: Vec<OperationFailure>,
    pub operation_failures_total: i64,
    /// Why the probe fails, one line per project; empty when healthy.
    pub problems: Vec<String>,
}

/// How many failed installations `status` lists.
pub const OPERATION_FAILURES_SHOWN: i64 = 10;

pub async fn status(
    pool: &PgPool,
    project: Option<&str>,
    max_age: Option<Duration>,
    limit: i64,
) -> Result<Status> {
    let mut runs: Vec<RunRow> = sqlx::query_as(include_str!("../../sql/status/runs.sql"))
        .bind(project)
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("reading sync_runs")?;
    // What reaches a terminal is scrubbed again: rows written by an older release, or
    // by hand, may hold control characters that would forge the output.
    for run in &mut runs {
        for text in [&mut run.project, &mut run.command] {
            *text = scrub_string(std::mem::take(text));
        }
        for text in [
            &mut run.group_ref,
            &mut run.error,
            &mut run.deletions_skipped_reason,
            &mut run.lists_unavailable,
        ] {
            *text = text.take().map(scrub_string);
        }
    }
    let projects: Vec<Freshness> = sqlx::query_as(include_str!("../../sql/status/freshness.sql"))
        .bind(project)
        .fetch_all(pool)
        .await
        .context("reading sync_runs")?;
    let runs_by_status: Vec<RunsByStatus> =
        sqlx::query_as(include_str!("../../sql/status/runs_by_status.sql"))
            .bind(project)
            .fetch_all(pool)
            .await
            .context("reading sync_runs")?;
    let mut rows = Vec::new();
    for table in crate::catalog::Table::NAMES
        .into_iter()
        .chain(["operations"])
    {
        let (live, deleted): (i64, i64) =
            sqlx::query_as(include_str!("../../sql/status/row_counts.sql"))
                .bind(table)
                .bind(project)
                .fetch_one(pool)
                .await
                .with_context(|| format!("counting rows of {table}"))?;
        rows.push(RowCount {
            table_name: table.to_owned(),
            live,
            deleted,
        });
    }
    let operation_failures: Vec<OperationFailure> =
        sqlx::query_as(include_str!("../../sql/status/operation_failures.sql"))
            .bind(project)
            .bind(OPERATION_FAILURES_SHOWN)
            .fetch_all(pool)
            .await
            .context("reading the operations reads that failed")?;
    let operation_failures_total: i64 = sqlx::query_scalar(include_str!(
        "../../sql/status/operation_failures_count.sql"
    ))
    .bind(project)
    .fetch_one(pool)
    .await
    .context("counting the operations reads that failed")?;
    let mut problems = Vec::new();
    if projects.is_empty() {
        problems.push(format!(
            "no runs recorded{}",
            project
                .map(|p| format!(" for project {}", scrub_text(p)))
                .unwrap_or_default()
        ));
    }
    for p in &projects {
        let name = scrub_text(&p.project);
        if p.last_status == "failed" || p.last_status == "abandoned" {
            problems.push(format!("project {name}: the latest run {}", p.last_status));
        }
        match (p.last_success, max_age) {
            (None, _) => problems.push(format!("project {name}: no successful run")),
            (Some(at), Some(max_age)) => {
                let age = (Utc::now() - at).to_std().unwrap_or_default();
                if age > max_age {
                    problems.push(format!(
                        "project {name}: the last successful run finished {} ago, more than {}",
                        humantime::format_duration(Duration::from_secs(age.as_secs())),
                        humantime::format_duration(max_age)
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(Status {
        runs,
        projects,
        runs_by_status,
        rows,
        operation_failures,
        operation_failures_total,
        problems,
    })
}

impl Status {
    /// The tables a person reads: the latest runs, each project's freshness, row counts,
    /// then OK or the problems the exit code reports.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<5} {:<7} {:<20} {:<10} {:<20} {:<20} {:>8} {:>6} {:>6} {:>6} {:>5}  {}\n",
            "RUN",
            "COMMAND",
            "PROJECT",
            "STATUS",
            "STARTED",
            "OBSERVED",
            "SECONDS",
            "+INS",
            "~UPD",
            "-DEL",
            "REJ",
            "NOTE"
        ));
        for r in &self.runs {
            let mut note = match (&r.error, &r.deletions_skipped_reason) {
                (Some(error), _) => error.clone(),
                (None, Some(reason)) => format!("deletions skipped: {reason}"),
                (None, None) => String::new(),
            };
            if r.rejected_without_payload > 0 && r.error.is_none() {
                if !note.is_empty() {
                    note.push_str("; ");
                }
                note.push_str(&format!(
                    "{} rejected stored without payload",
                    r.rejected_without_payload
                ));
            }
            if let (None, Some(lists)) = (&r.error, &r.lists_unavailable) {
                let sep = if note.is_empty() { "" } else { "; " };
                note = format!("{note}{sep}lists unavailable: {lists}");
            }
            if let Some(ops) = &r.operations {
                let n = |name: &str| ops.0[name].as_u64().unwrap_or(0);
                let sep = if note.is_empty() { "" } else { "; " };
                note = format!(
                    "{note}{sep}operations: {} read, {} left, {} failed",
                    n("installations_read"),
                    n("installations_left"),
                    n("installations_failed")
                );
            }
            out.push_str(&format!(
                "{:<5} {:<7} {:<20} {:<10} {:<20} {:<20} {:>8} {:>6} {:>6} {:>6} {:>5}  {}\n",
                r.id,
                r.command,
                r.project,
                r.status,
                r.started_at.format("%Y-%m-%d %H:%M:%S"),
                r.observed_at.format("%Y-%m-%d %H:%M:%S"),
                r.seconds.map_or("-".into(), |s| format!("{s:.1}")),
                r.rows_inserted,
                r.rows_updated,
                r.rows_deleted,
                r.rejected,
                note.chars().take(120).collect::<String>()
            ));
        }
        out.push_str(&format!(
            "\n{:<20} {:<11} {:<20} {}\n",
            "PROJECT", "LAST RUN", "LAST SUCCESS", "AGE"
        ));
        for p in &self.projects {
            let (when, age) = match p.last_success {
                Some(at) => (
                    at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    humantime::format_duration(Duration::from_secs(
                        (Utc::now() - at).to_std().unwrap_or_default().as_secs(),
                    ))
                    .to_string(),
                ),
                None => ("never".into(), "-".into()),
            };
            out.push_str(&format!(
                "{:<20} {:<11} {:<20} {}\n",
                scrub_text(&p.project),
                p.last_status,
                when,
                age
            ));
        }
        out.push_str(&format!(
            "\n{:<14} {:>8} {:>8}\n",
            "TABLE", "LIVE", "DELETED"
        ));
        for c in &self.rows {
            out.push_str(&format!(
                "{:<14} {:>8} {:>8}\n",
                c.table_name, c.live, c.deleted
            ));
        }
        if self.operation_failures_total > 0 {
            out.push_str(&format!(
                "\nOPERATIONS NOT READ: {} installations whose last read failed (tried again by later runs)\n",
                self.operation_failures_total
            ));
            out.push_str(&format!(
                "{:<20} {:<24} {:<20} {}\n",
                "PROJECT", "INSTALLATION", "FAILED", "ERROR"
            ));
            for f in &self.operation_failures {
                out.push_str(&format!(
                    "{:<20} {:<24} {:<20} {}\n",
                    scrub_text(&f.project),
                    scrub_text(&f.installation_id),
                    f.failed_at
                        .map_or("-".into(), |at| at.format("%Y-%m-%d %H:%M:%S").to_string()),
                    scrub_text(&f.error).chars().take(160).collect::<String>()
                ));
            }
        }
        if self.problems.is_empty() {
            out.push_str("\nOK\n");
        } else {
            out.push('\n');
            for p in &self.problems {
                out.push_str(&format!("PROBLEM: {p}\n"));
            }
        }
        out
    }
}

/// A text as the table and JSON show it: scrubbed (see [`crate::scrub::scrub_text`]).
fn scrubbed<S: serde::Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&scrub_text(text))
}
