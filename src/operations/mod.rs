//! Operations: what every installation did (each read, write and subscribe Ampersand
//! ran for it), read after a sync has applied its snapshot, under the same lock, into
//! `ampersand.operations` (with history), `operation_logs` and `operation_cursors`.
//!
//! # Which installations a run reads
//! The API lists operations per installation, one request per page, and nothing says
//! which installations had new ones. A run therefore reads within a budget of requests
//! (`--max-operation-requests`), in this order ([`rotation`]):
//! 1. the urgent: installations whose health or `lastOperationStatus` this run saw
//!    change (or saw first), those with operations still `in_progress`, those never
//!    attempted (the changed and the open before those never attempted); at most
//!    three quarters of the budget (half with logs on, since a quarter is kept for the
//!    logs);
//! 2. then everyone else and the urgent left over, longest since attempted first.
//!
//! So at least a quarter of each run's budget goes to the longest-unread: with `L` live
//! installations and a budget of `B` requests, each is attempted at least once every
//! `ceil(4 L / B)` runs (one request each: an installation with under 1,000 operations
//! since its cursor costs one). `--operations all` reads every installation every run
//! (no budget unless one is given), for a backfill. With logs on, a quarter of the
//! budget is kept for them (read after the operations, with whatever the reads left).
//!
//! # What stays true whatever happens
//! - A batch of reads commits its rows and its cursors together (`store`); a cursor
//!   moves only after a complete read (to `done`, or to a page the order shows is old:
//!   `cursor`).
//! - One installation's failure (404 for one deleted meanwhile, 5xx after the retries)
//!   fails neither the run nor the snapshot, which committed before: it is recorded on
//!   its cursor and counted in the run's `operations` summary, which `status` shows. A
//!   failure that says the API is refusing (429 or 5xx after the retries, the
//!   connection, the key) stops the run from asking about more installations.
//! - Secrets: each operation and log entry is scrubbed before anything else sees it
//!   (`record`).

pub mod cursor;
pub mod read;
pub mod record;
pub mod store;

use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use sqlx::PgConnection;

use crate::api::{ApiClient, ApiError};
use read::{Budget, End, Read, Reader, Target};
use store::{LogsRead, Queued, Written};

/// `--operations`: which installations' operations a sync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The urgent first (health or last operation status changed, operations in
    /// progress, never read), then the longest-unread, within the request budget.
    Changed,
    /// Every live installation, every run (the budget applies only when given).
    All,
    /// None.
    Off,
}

/// `--operation-logs`: whose logs a sync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Logs {
    /// Failed operations'.
    Failed,
    /// Every finished operation's.
    All,
    /// None.
    Off,
}

/// How a sync reads operations.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// Requests per run; `None`: the mode's default.
    pub max_requests: Option<u64>,
    pub concurrency: usize,
    pub logs: Logs,
    pub keep_record_ids: bool,
}

/// The budget of a run in `changed` mode when none is given: about ten seconds of
/// requests at eight at a time, well inside a 10-minute CronJob.
pub const DEFAULT_MAX_REQUESTS: u64 = 2_000;

impl Settings {
    fn budget(&self) -> u64 {
        match (self.max_requests, self.mode) {
            (Some(n), _) => n,
            (None, Mode::All) => u64::MAX,
            (None, _) => DEFAULT_MAX_REQUESTS,
        }
    }
}

/// What a run did about operations: recorded as `sync_runs.operations`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub mode: Option<Mode>,
    /// Live installations it could have read.
    pub installations: u64,
    pub installations_read: u64,
    /// Not read this run (the budget, or a stop): later runs will.
    pub installations_left: u64,
    pub installations_failed: u64,
    /// Why it stopped asking, when it did.
    pub stopped: Option<String>,
    pub requests: u64,
    /// `null` for no budget.
    pub max_requests: Option<u64>,
    pub inserted: u64,
    pub updated: u64,
    pub rejected: u64,
    pub logs_read: u64,
    pub log_entries: u64,
    pub logs_failed: u64,
}

impl Summary {
    /// `operations: 60 installations read, 0 left, 1 failed, 61 requests`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "operations: {} installations read, {} left, {} failed, {} requests",
            self.installations_read,
            self.installations_left,
            self.installations_failed,
            self.requests
        );
        if self.logs_read > 0 {
            line.push_str(&format!(", logs of {} operations", self.logs_read));
        }
        if let Some(why) = &self.stopped {
            line.push_str(&format!(" (stopped: {why})"));
        }
        line
    }
}

/// A run's identity, as operations need it.
#[derive(Debug, Clone, Copy)]
pub struct RunRef<'a> {
    pub project: &'a str,
    pub id: i64,
    pub observed_at: DateTime<Utc>,
    pub group_ref: Option<&'a str>,
}

/// Reads are written in batches of about this many operations (memory stays flat).
const BATCH_ROWS: usize = 5_000;
/// ...or of this many installations.
const BATCH_READS: usize = 500;

/// Reads the operations of run `run`'s project, after its snapshot committed.
pub async fn sync(
    conn: &mut PgConnection,
    api: &ApiClient,
    run: RunRef<'_>,
    settings: &Settings,
) -> Result<Summary> {
    let mut summary = Summary {
        mode: Some(settings.mode),
        ..Summary::default()
    };
    if settings.mode == Mode::Off {
        return Ok(summary);
    }
    let total = settings.budget();
    summary.max_requests = (total != u64::MAX).then_some(total);
    let log_share = if settings.logs == Logs::Off {
        0
    } else {
        total / 4
    };
    let budget = Budget::new(total - log_share);
    let queue = store::queue(conn, run.project, run.id, run.group_ref)
        .await
        .context("choosing the installations whose operations to read")?;
    summary.installations = queue.len() as u64;
    // A quarter of the whole budget goes to the longest-unread whether or not a quarter
    // is kept for logs, so every installation is read within ceil(4 L / B) runs.
    let reserve = (total / 4).max(1);
    let urgent_at_most =
        usize::try_from(budget.left().saturating_sub(reserve)).unwrap_or(usize::MAX);
    let order = rotation(queue, urgent_at_most);

    let stop = AtomicBool::new(false);
    let reader = Reader {
        api,
        project: run.project,
        budget: &budget,
        stop: &stop,
        keep_record_ids: settings.keep_record_ids,
    };
    let mut reads = futures_util::stream::iter(order)
        .map(|target| reader.read(target))
        .buffer_unordered(settings.concurrency.max(1));
    let mut batch: Vec<Read> = Vec::new();
    let mut batch_rows = 0;
    let mut position = 0;
    let mut written = Written::default();
    while let Some(read) = reads.next().await {
        count(&mut summary, &read);
        batch_rows += read.rows.len();
        batch.push(read);
        if batch_rows >= BATCH_ROWS || batch.len() >= BATCH_READS {
            add(&mut written, write(conn, run, &batch, &mut position).await?);
            batch.clear();
            batch_rows = 0;
        }
    }
    drop(reads);
    add(&mut written, write(conn, run, &batch, &mut position).await?);
    summary.inserted = written.inserted;
    summary.updated = written.updated;
    summary.rejected = position as u64;
    if stop.load(std::sync::atomic::Ordering::Relaxed) && summary.stopped.is_none() {
        summary.stopped = Some("the API refused".into());
    }

    if settings.logs != Logs::Off && summary.stopped.is_none() {
        let logs_budget = Budget::new(total.saturating_sub(budget.sent()));
        read_logs(conn, api, run, settings, &logs_budget, &mut summary).await?;
        summary.requests = budget.sent() + logs_budget.sent();
    } else {
        summary.requests = budget.sent();
    }
    let value = serde_json::to_value(&summary).context("summarizing the operations read")?;
    store::record_run(conn, run.id, &value, written)
        .await
        .context("recording what the run read of operations")?;
    tracing::info!(
        installations_read = summary.installations_read,
        installations_left = summary.installations_left,
        installations_failed = summary.installations_failed,
        requests = summary.requests,
        inserted = summary.inserted,
        updated = summary.updated,
        logs_read = summary.logs_read,
        stopped = summary.stopped.as_deref(),
        "operations read"
    );
    Ok(summary)
}

/// Writes archived operations (`import --operations-file`) for run `run`, in one
/// transaction, and records them on the run. `elements` are operations as the list
/// sends them; no cursor moves (a later sync still reads each installation whole once).
pub async fn import(
    conn: &mut PgConnection,
    run: RunRef<'_>,
    elements: Vec<serde_json::Value>,
) -> Result<Summary> {
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for element in elements {
        match record::operation(run.project, element, false) {
            Ok(row) => rows.push(row),
            Err(refused) => rejected.push(refused),
        }
    }
    let mut position = 0;
    let written = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let written = store::write_rows(&mut tx, run.id, run.observed_at, rows.iter()).await?;
        store::write_rejected(&mut tx, run.id, rejected.iter(), &mut position).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(written)
    }
    .await
    .with_context(|| format!("writing the archived operations of project {}", run.project))?;
    let summary = Summary {
        inserted: written.inserted,
        updated: written.updated,
        rejected: position as u64,
        ..Summary::default()
    };
    let value = serde_json::to_value(&summary).context("summarizing the operations read")?;
    store::record_run(conn, run.id, &value, written)
        .await
        .context("recording the archived operations on the run")?;
    Ok(summary)
}

/// The operations of an archived response: a list response (`{"results": [...]}`), an
/// array of them, or a bare array of operations; none when it is none of these.
pub fn archived(value: serde_json::Value) -> Option<Vec<serde_json::Value>> {
    use serde_json::Value;
    let page = |v: Value| match v {
        Value::Object(mut page) => match page.remove("results") {
            Some(Value::Array(results)) => Some(results),
            _ => None,
        },
        _ => None,
    };
    match value {
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if item.get("results").is_some() {
                    out.extend(page(item)?);
                } else {
                    out.push(item);
                }
            }
            Some(out)
        }
        other => page(other),
    }
}

async fn write(
    conn: &mut PgConnection,
    run: RunRef<'_>,
    batch: &[Read],
    position: &mut i64,
) -> Result<Written> {
    store::write_reads(conn, run.id, run.observed_at, run.project, batch, position)
        .await
        .with_context(|| format!("writing the operations of project {}", run.project))
}

fn add(total: &mut Written, batch: Written) {
    total.inserted += batch.inserted;
    total.updated += batch.updated;
}

/// Counts one read in the summary, and logs a failure.
fn count(summary: &mut Summary, read: &Read) {
    match &read.end {
        End::Complete(_) => summary.installations_read += 1,
        End::OutOfBudget | End::Stopped => summary.installations_left += 1,
        End::Failed {
            message,
            stop_asking,
        } => {
            summary.installations_failed += 1;
            tracing::warn!(installation = %read.target.installation, error = %message, "could not read the installation's operations");
            if *stop_asking && summary.stopped.is_none() {
                summary.stopped = Some(message.clone());
            }
        }
    }
}

/// The order a run reads installations in (see the module docs): the urgent, at most
/// `urgent_first` of them, then everyone left, longest since attempted first. `queue`
/// comes longest since attempted first.
pub fn rotation(queue: Vec<Queued>, urgent_first: usize) -> Vec<Target> {
    let (urgent, mut rest): (Vec<Queued>, Vec<Queued>) = queue.into_iter().partition(|q| q.urgent);
    let mut urgent = urgent.into_iter();
    let mut order: Vec<Target> = urgent
        .by_ref()
        .take(urgent_first)
        .map(|q| q.target)
        .collect();
    rest.extend(urgent);
    // Stable: equal times keep the queue's order (by id).
    rest.sort_by_key(|q| q.last_attempt_at);
    order.extend(rest.into_iter().map(|q| q.target));
    order
}

/// Reads the logs the settings ask for, of operations whose logs no run has read, within
/// the project's log retention, newest first, within `budget`.
async fn read_logs(
    conn: &mut PgConnection,
    api: &ApiClient,
    run: RunRef<'_>,
    settings: &Settings,
    budget: &Budget,
    summary: &mut Summary,
) -> Result<()> {
    let which = if settings.logs == Logs::All {
        "all"
    } else {
        "failed"
    };
    let since = store::log_retention_days(conn, run.project)
        .await
        .context("reading the project's log retention")?
        .map(|days| run.observed_at - chrono::Duration::days(days));
    let limit = i64::try_from(budget.left()).unwrap_or(i64::MAX);
    let candidates = store::log_candidates(conn, run.project, which, since, run.group_ref, limit)
        .await
        .context("choosing the operations whose logs to read")?;
    let stop = AtomicBool::new(false);
    let mut reads = futures_util::stream::iter(candidates)
        .map(|(operation, installation)| {
            read_one_log(api, run.project, budget, &stop, operation, installation)
        })
        .buffer_unordered(settings.concurrency.max(1));
    let mut batch = Vec::new();
    while let Some(read) = reads.next().await {
        match read {
            Some(read) => {
                summary.logs_read += 1;
                batch.push(read);
            }
            None => summary.logs_failed += 1,
        }
        if batch.len() >= BATCH_READS {
            summary.log_entries += write_logs(conn, run, &batch).await?;
            batch.clear();
        }
    }
    drop(reads);
    if !batch.is_empty() {
        summary.log_entries += write_logs(conn, run, &batch).await?;
    }
    Ok(())
}

async fn write_logs(conn: &mut PgConnection, run: RunRef<'_>, batch: &[LogsRead]) -> Result<u64> {
    store::write_logs(conn, run.project, run.id, run.observed_at, batch)
        .await
        .with_context(|| format!("writing the operation logs of project {}", run.project))
}

/// One operation's logs; `None` when they could not be read this run (tried again by
/// the next). A 404 is an answer: the logs expired or the operation is gone.
async fn read_one_log(
    api: &ApiClient,
    project: &str,
    budget: &Budget,
    stop: &AtomicBool,
    operation: String,
    installation: Option<String>,
) -> Option<LogsRead> {
    use std::sync::atomic::Ordering;
    if stop.load(Ordering::Relaxed) || !budget.take() {
        return None;
    }
    match api.operation_logs(project, &operation).await {
        Ok(entries) => {
            let rows = entries
                .into_iter()
                .filter_map(|entry| {
                    record::log_entry(project, &operation, installation.as_deref(), entry)
                        .map_err(|why| tracing::warn!(operation = %operation, reason = %why, "a log entry could not be stored"))
                        .ok()
                })
                .collect();
            Some(LogsRead {
                operation,
                entries: rows,
                error: None,
            })
        }
        Err(ApiError::NotFound { status, .. }) => Some(LogsRead {
            operation,
            entries: Vec::new(),
            error: Some(format!("the logs answered {status}: expired or gone")),
        }),
        Err(e) => {
            if !matches!(e, ApiError::Body { .. } | ApiError::TooLarge { .. }) {
                stop.store(true, Ordering::Relaxed);
            }
            tracing::warn!(operation = %operation, error = %crate::scrub::scrub_text(&e.to_string()), "could not read an operation's logs");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cursor::Cursor;

    fn queued(id: &str, urgent: bool, minutes_ago: Option<i64>) -> Queued {
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Queued {
            target: Target {
                installation: id.into(),
                integration: "int".into(),
                cursor: Cursor::default(),
                has_open: false,
                reads: 0,
            },
            urgent,
            last_attempt_at: minutes_ago.map(|m| now - chrono::Duration::minutes(m)),
        }
    }

    fn ids(order: &[Target]) -> Vec<&str> {
        order.iter().map(|t| t.installation.as_str()).collect()
    }

    #[test]
    fn the_urgent_come_first_but_never_take_the_whole_budget() {
        let queue = vec![
            queued("never", false, None),
            queued("old", false, Some(600)),
            queued("u1", true, Some(500)),
            queued("u2", true, Some(400)),
            queued("u3", true, Some(300)),
            queued("u4", true, Some(200)),
            queued("recent", false, Some(10)),
        ];
        // Room for three urgent ones: then the longest-unread.
        let order = rotation(queue.clone(), 3);
        assert_eq!(
            ids(&order),
            ["u1", "u2", "u3", "never", "old", "u4", "recent"]
        );
        // Room for more: every urgent one first.
        let order = rotation(queue, 100);
        assert_eq!(
            ids(&order),
            ["u1", "u2", "u3", "u4", "never", "old", "recent"]
        );
    }
}
