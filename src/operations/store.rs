//! The database side of operations: which installations to read, and each batch of
//! reads written in one transaction, its rows with their cursors, so a cursor never
//! moves past rows that did not commit.
//!
//! Rows go through the writer functions every synced table uses
//! (`ampersand.prepare_stage`, `ampersand.merge_stage`): a new operation is an insert
//! version, one whose hash moved (in_progress -> failure) an update version, one read
//! again unchanged writes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection};

use super::cursor::Cursor;
use super::read::{End, Read, Target};
use super::record::{LogRow, OperationRow, Rejected};

/// The stage's columns: `OperationRow`'s fields, in any order (the stage is filled by
/// name, from JSON).
const STAGE_COLUMNS: [&str; 21] = [
    "project_id",
    "id",
    "integration_id",
    "installation_id",
    "config_id",
    "action_type",
    "status",
    "result",
    "create_time",
    "objects",
    "retry_attempts",
    "retry_last_attempt",
    "retry_last_notified",
    "records_processed",
    "records_estimated_total",
    "successful_record_count",
    "successful_record_ids",
    "metadata",
    "extra",
    "content_hash",
    "row_hash",
];

/// What one installation's place in the rotation depends on.
#[derive(Debug, Clone)]
pub struct Queued {
    pub target: Target,
    pub urgent: bool,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// The live installations of `project` (of `group_ref`), longest since attempted first.
pub async fn queue(
    conn: &mut PgConnection,
    project: &str,
    run: i64,
    group_ref: Option<&str>,
) -> sqlx::Result<Vec<Queued>> {
    type QueueRow = (
        String,
        String,
        bool,
        bool,
        Option<DateTime<Utc>>,
        Vec<String>,
        i64,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<QueueRow> = sqlx::query_as(include_str!("../../sql/operations/queue.sql"))
        .bind(project)
        .bind(run)
        .bind(group_ref)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(installation, integration, urgent, has_open, newest, mut newest_ids, reads, last)| {
                newest_ids.sort();
                Queued {
                    target: Target {
                        installation,
                        integration,
                        cursor: Cursor { newest, newest_ids },
                        has_open,
                        reads,
                    },
                    urgent,
                    last_attempt_at: last,
                }
            },
        )
        .collect())
}

/// What a batch wrote.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
}

/// Writes a batch of reads in one transaction: their rows, their rejected elements
/// (numbered from `position`), and the cursor of each installation that was read
/// completely or failed. A read the budget cut short keeps its rows (they are what the
/// API said) but not a new cursor.
pub async fn write_reads(
    conn: &mut PgConnection,
    run: i64,
    observed_at: DateTime<Utc>,
    project: &str,
    reads: &[Read],
    position: &mut i64,
) -> sqlx::Result<Written> {
    let mut tx = conn.begin().await?;
    let rows = reads.iter().flat_map(|r| r.rows.iter());
    let written = write_rows(&mut tx, run, observed_at, rows).await?;
    write_rejected(
        &mut tx,
        run,
        reads.iter().flat_map(|r| r.rejected.iter()),
        position,
    )
    .await?;
    let cursors: Vec<Value> = reads
        .iter()
        .filter_map(|r| {
            let base = |cursor: Option<&Cursor>, error: Option<&str>| {
                json!({
                    "installation_id": r.target.installation,
                    "integration_id": r.target.integration,
                    "newest_create_time": cursor.and_then(|c| c.newest),
                    "newest_ids": cursor.map(|c| c.newest_ids.clone()),
                    "error": error,
                })
            };
            match &r.end {
                End::Complete(cursor) => Some(base(Some(cursor), None)),
                End::Failed { message, .. } => Some(base(None, Some(message))),
                End::OutOfBudget | End::Stopped => None,
            }
        })
        .collect();
    if !cursors.is_empty() {
        sqlx::query(include_str!("../../sql/operations/cursors.sql"))
            .bind(project)
            .bind(Json(&cursors))
            .bind(run)
            .bind(observed_at)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// Records operations that could not be stored as rejected records of run `run`
/// (source `operations`, numbered on from `position`), inside the caller's transaction.
pub async fn write_rejected<'a>(
    conn: &mut PgConnection,
    run: i64,
    rejected: impl Iterator<Item = &'a Rejected>,
    position: &mut i64,
) -> sqlx::Result<()> {
    let rejected: Vec<Value> = rejected
        .map(|r| {
            *position += 1;
            json!({"position": *position, "reason": r.reason, "payload": r.payload})
        })
        .collect();
    if !rejected.is_empty() {
        sqlx::query(include_str!("../../sql/operations/rejected.sql"))
            .bind(run)
            .bind(Json(&rejected))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Stages `rows` (the last of two with one id wins) and merges them, inside the
/// caller's transaction.
pub async fn write_rows<'a>(
    conn: &mut PgConnection,
    run: i64,
    observed_at: DateTime<Utc>,
    rows: impl Iterator<Item = &'a OperationRow>,
) -> sqlx::Result<Written> {
    let mut unique: std::collections::HashMap<&str, &OperationRow> = Default::default();
    for row in rows {
        unique.insert(row.id.as_str(), row);
    }
    if unique.is_empty() {
        return Ok(Written::default());
    }
    let rows: Vec<&OperationRow> = unique.into_values().collect();
    sqlx::query(include_str!("../../sql/operations/prepare_stage.sql"))
        .bind(&STAGE_COLUMNS[..])
        .execute(&mut *conn)
        .await?;
    sqlx::query(include_str!("../../sql/operations/stage.sql"))
        .bind(Json(&rows))
        .execute(&mut *conn)
        .await?;
    for sql in [
        include_str!("../../sql/operations/classify_new.sql"),
        include_str!("../../sql/operations/classify_changed.sql"),
        include_str!("../../sql/operations/drop_unchanged.sql"),
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    let (inserted, updated): (i64, i64) =
        sqlx::query_as(include_str!("../../sql/operations/staged_counts.sql"))
            .fetch_one(&mut *conn)
            .await?;
    if inserted + updated > 0 {
        sqlx::query(include_str!("../../sql/operations/merge.sql"))
            .bind(run)
            .bind(observed_at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Written {
        inserted: inserted as u64,
        updated: updated as u64,
    })
}

/// The project's log retention in days, when its stored entitlements say.
pub async fn log_retention_days(
    conn: &mut PgConnection,
    project: &str,
) -> sqlx::Result<Option<i64>> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>(include_str!("../../sql/operations/retention.sql"))
            .bind(project)
            .fetch_optional(&mut *conn)
            .await?
            .flatten(),
    )
}

/// Operations whose logs are to be read: (operation id, installation id).
pub async fn log_candidates(
    conn: &mut PgConnection,
    project: &str,
    which: &str,
    since: Option<DateTime<Utc>>,
    group_ref: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<(String, Option<String>)>> {
    sqlx::query_as(include_str!("../../sql/operations/log_candidates.sql"))
        .bind(project)
        .bind(which)
        .bind(since)
        .bind(group_ref)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
}

/// One operation's logs as read: its entries, or why there are none.
#[derive(Debug)]
pub struct LogsRead {
    pub operation: String,
    pub entries: Vec<LogRow>,
    /// A 404: expired or gone; recorded, so they are not asked for again.
    pub error: Option<String>,
}

/// Writes a batch of logs read, with the record of which were read, in one transaction.
/// Returns how many entries were new.
pub async fn write_logs(
    conn: &mut PgConnection,
    project: &str,
    run: i64,
    observed_at: DateTime<Utc>,
    reads: &[LogsRead],
) -> sqlx::Result<u64> {
    let mut tx = conn.begin().await?;
    let entries: Vec<&LogRow> = reads.iter().flat_map(|r| r.entries.iter()).collect();
    let added: i64 = if entries.is_empty() {
        0
    } else {
        sqlx::query_scalar(include_str!("../../sql/operations/logs.sql"))
            .bind(run)
            .bind(Json(&entries))
            .bind(observed_at)
            .fetch_one(&mut *tx)
            .await?
    };
    let marks: Vec<Value> = reads
        .iter()
        .map(|r| json!({"operation_id": r.operation, "entries": r.entries.len(), "error": r.error}))
        .collect();
    sqlx::query(include_str!("../../sql/operations/log_reads.sql"))
        .bind(project)
        .bind(run)
        .bind(Json(&marks))
        .bind(observed_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(added as u64)
}

/// Records what the run did about operations on its ledger row.
pub async fn record_run(
    conn: &mut PgConnection,
    run: i64,
    summary: &Value,
    written: Written,
) -> sqlx::Result<()> {
    let counts = json!({
        "inserted": written.inserted, "updated": written.updated, "restored": 0,
        "deleted": 0, "touched": 0,
    });
    sqlx::query(include_str!("../../sql/operations/record_run.sql"))
        .bind(run)
        .bind(Json(summary))
        .bind(Json(&counts))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
