//! Bookkeeping of runs: the `sync_runs` row of each run, its `rejected_records`, the
//! per-project lock, the observed time that orders a project's snapshots, the
//! fingerprint of the snapshot a run applied (which `lifecycle` reads and records), and
//! a project named by id or by the name a sync stored ([`resolve_project`]). Every read
//! and write of those two tables is here, and the first observed time each applied
//! snapshot leaves in `project_retention` (which `prune` cannot delete, as it does runs).
//! It may use `apply`'s counts; `apply` never uses it.
//!
//! A run's row is written in autocommit as the run starts (status `running`), closed
//! inside the apply transaction when it succeeds, and closed in autocommit when it fails.
//! A run that dies leaves `running` behind; the next run of the project, holding the
//! lock, marks it `abandoned`.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use crate::apply::Counts;
use crate::copy_in::{send_chunked, CopyError, COPY_CHUNK};
use crate::snapshot::rejects::AllRejects;

/// Another run holds the project's lock (exit code 75).
#[derive(Debug, thiserror::Error)]
#[error(
    "another run holds the lock of project {project}: {holder}; try again later, or pass --wait"
)]
pub struct LockBusy {
    pub project: String,
    pub holder: String,
}

/// The run holding a project's lock, as `sync_runs` has it.
#[derive(sqlx::FromRow)]
struct Holder {
    id: i64,
    command: String,
    started_at: DateTime<Utc>,
    host: Option<String>,
    pid: Option<i32>,
}

/// A run's identity, as recorded in `sync_runs`.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub project: String,
    pub observed_at: DateTime<Utc>,
}

/// What a new run is.
pub struct NewRun<'a> {
    pub command: &'a str,
    pub project: &'a str,
    pub group_ref: Option<&'a str>,
    pub observed_at: DateTime<Utc>,
}

/// Takes the project's lock on `conn`, a connection the run keeps to its end: the lock
/// lasts as long as the session, so a killed run releases it with its connection.
pub async fn lock(conn: &mut PgConnection, project: &str, wait: bool) -> anyhow::Result<()> {
    if wait {
        sqlx::query(include_str!("../../sql/runs/lock.sql"))
            .bind(project)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    let locked: bool = sqlx::query_scalar(include_str!("../../sql/runs/try_lock.sql"))
        .bind(project)
        .fetch_one(&mut *conn)
        .await?;
    if locked {
        return Ok(());
    }
    let holder = holder(conn, project).await?;
    Err(LockBusy {
        project: project.into(),
        holder,
    }
    .into())
}

/// Which run holds the project's lock, as a message names it: its command, id, start,
/// host and pid, from the project's `running` row (the lock itself names no run).
pub async fn holder(conn: &mut PgConnection, project: &str) -> sqlx::Result<String> {
    let holder: Option<Holder> = sqlx::query_as(include_str!("../../sql/runs/running.sql"))
        .bind(project)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match holder {
        Some(h) => format!(
            "{} run {} started at {} on {} (pid {})",
            h.command,
            h.id,
            h.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            h.host.as_deref().unwrap_or("an unknown host"),
            h.pid.map_or("unknown".into(), |p| p.to_string())
        ),
        None => "a run that has not recorded itself yet".into(),
    })
}

/// The temporary files of the project's latest whole-project run that applied a
/// snapshot: its id and their size in bytes (`sync_runs.temp_bytes`, V13 onwards).
pub async fn last_temp_bytes(
    conn: &mut PgConnection,
    project: &str,
) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as(include_str!("../../sql/runs/last_temp_bytes.sql"))
        .bind(project)
        .fetch_optional(conn)
        .await
}

pub async fn unlock(conn: &mut PgConnection, project: &str) -> sqlx::Result<()> {
    sqlx::query(include_str!("../../sql/runs/unlock.sql"))
        .bind(project)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the project's unfinished runs `abandoned`; call while holding its lock.
pub async fn abandon_unfinished(conn: &mut PgConnection, project: &str) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(include_str!("../../sql/runs/abandon.sql"))
        .bind(project)
        .fetch_all(conn)
        .await
}

/// The observed time of the newest snapshot applied to the project.
pub async fn newest_observed(
    conn: &mut PgConnection,
    project: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(include_str!("../../sql/runs/newest_observed.sql"))
        .bind(project)
        .fetch_one(conn)
        .await
}

/// Whether a snapshot observed at exactly `at` was already applied to the project.
pub async fn applied_at(
    conn: &mut PgConnection,
    project: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(include_str!("../../sql/runs/applied_at.sql"))
        .bind(project)
        .bind(at)
        .fetch_one(conn)
        .await
}

/// An observed time for a new sync: now, or just after the newest snapshot if the
/// clock says otherwise, so a project's versions always move forward.
pub fn next_observed(now: DateTime<Utc>, newest: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match newest {
        Some(newest) if newest >= now => newest + Duration::milliseconds(1),
        _ => now,
    }
}

fn host() -> Option<String> {
    hostname::get()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

pub async fn start(pool: &PgPool, new: NewRun<'_>) -> sqlx::Result<Run> {
    let host = host();
    let id: i64 = sqlx::query_scalar(include_str!("../../sql/runs/start.sql"))
        .bind(new.command)
        .bind(new.project)
        .bind(new.group_ref)
        .bind(false)
        .bind(new.observed_at)
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(host)
        .bind(std::process::id() as i32)
        .fetch_one(pool)
        .await?;
    Ok(Run {
        id,
        project: new.project.to_owned(),
        observed_at: new.observed_at,
    })
}

/// How many records a run rejected, and how many of those lost their payload.
#[derive(Debug, Default, Clone, Copy)]
pub struct RejectedCount {
    pub rejected: u64,
    pub without_payload: u64,
}

/// What a successful run records besides its counts.
pub struct Succeeded<'a> {
    pub rejected: RejectedCount,
    pub deletions_skipped: Option<&'a str>,
    /// The snapshot's temporary files, in bytes (what `ampsync check` compares TMPDIR's
    /// free space with).
    pub temp_bytes: u64,
}

/// Closes the run as succeeded, inside the transaction that applied it, and keeps its
/// observed time as the project's first when it is the earliest.
pub async fn succeed(
    tx: &mut PgConnection,
    run: &Run,
    counts: &Counts,
    outcome: Succeeded<'_>,
) -> sqlx::Result<()> {
    let total =
        |f: fn(&crate::apply::TableCounts) -> u64| counts.values().map(f).sum::<u64>() as i64;
    sqlx::query(include_str!("../../sql/runs/succeeded.sql"))
        .bind(run.id)
        .bind(sqlx::types::Json(counts))
        .bind(total(|c| c.inserted + c.restored))
        .bind(total(|c| c.updated + c.touched))
        .bind(total(|c| c.deleted))
        .bind(outcome.rejected.rejected as i64)
        .bind(outcome.deletions_skipped)
        .bind(outcome.rejected.without_payload as i64)
        .bind(i64::try_from(outcome.temp_bytes).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    sqlx::query(include_str!("../../sql/runs/first_observed.sql"))
        .bind(&run.project)
        .bind(run.observed_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The latest successful run of `project`, and the fingerprint of its snapshot if that
/// run applied it whole.
pub async fn last_snapshot(
    conn: &mut PgConnection,
    project: &str,
) -> sqlx::Result<Option<(i64, Option<serde_json::Value>)>> {
    sqlx::query_as(include_str!("../../sql/runs/last_snapshot.sql"))
        .bind(project)
        .fetch_optional(conn)
        .await
}

/// Records the fingerprint of the snapshot run `run_id` applied, inside its transaction.
pub async fn record_snapshot(
    tx: &mut PgConnection,
    run_id: i64,
    fingerprint: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(include_str!("../../sql/runs/record_snapshot.sql"))
        .bind(run_id)
        .bind(fingerprint)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records the source objects run `run_id` could not read, inside its transaction:
/// `COPY`, a megabyte at a time, read back from the snapshot's temporary files.
pub async fn record_rejected(
    tx: &mut PgConnection,
    run_id: i64,
    rejects: &AllRejects<'_>,
) -> anyhow::Result<RejectedCount> {
    let count = RejectedCount {
        rejected: rejects.count(),
        without_payload: rejects.without_payload(),
    };
    if count.rejected == 0 {
        return Ok(count);
    }
    let copy = tx
        .copy_in_raw(include_str!("../../sql/runs/copy_rejected.sql"))
        .await
        .context("recording rejected records")?;
    let mut text = rejects.copy_text(run_id);
    let copy = send_chunked(copy, "reading the rejected records failed", |data| {
        text.fill(data, COPY_CHUNK).map(|_| ())
    })
    .await
    .map_err(|e| match e {
        CopyError::Source(e) => anyhow::Error::new(e)
            .context("reading rejected records back from their temporary file (TMPDIR)"),
        CopyError::Database(e) => anyhow::Error::new(e).context("recording rejected records"),
    })?;
    copy.finish().await.context("recording rejected records")?;
    Ok(count)
}

/// Records a run's rejected counts on its row, for a run that fails because none of
/// its records could be read (a run that succeeds records them with [`succeed`]).
pub async fn record_rejected_count(
    tx: &mut PgConnection,
    run: &Run,
    count: RejectedCount,
) -> sqlx::Result<()> {
    sqlx::query(include_str!("../../sql/runs/rejected_counts.sql"))
        .bind(run.id)
        .bind(count.rejected as i64)
        .bind(count.without_payload as i64)
        .execute(tx)
        .await?;
    Ok(())
}

/// Removes the `running` row of a run that turned out to be a usage error (see
/// `lifecycle::finish`).
pub async fn discard(pool: &PgPool, run: &Run) -> sqlx::Result<()> {
    sqlx::query(include_str!("../../sql/runs/discard.sql"))
        .bind(run.id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Closes the run as failed, with the error that stopped it (scrubbed once more here:
/// `sync_runs.error` is readable by the reader role).
pub async fn fail(pool: &PgPool, run: &Run, error: &str) -> sqlx::Result<()> {
    sqlx::query(include_str!("../../sql/runs/failed.sql"))
        .bind(run.id)
        .bind(crate::scrub::scrub_text(error))
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a run that failed before it started (no lock, no `running` row); returns its id.
pub async fn record_failure(
    pool: &PgPool,
    command: &str,
    project: &str,
    group_ref: Option<&str>,
    error: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(include_str!("../../sql/runs/failed_before_start.sql"))
        .bind(command)
        .bind(project)
        .bind(group_ref)
        .bind(crate::scrub::scrub_text(error))
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(host())
        .bind(std::process::id() as i32)
        .fetch_one(pool)
        .await
}

/// Records in `sync_runs.lists_unavailable` the lists the API would not give run `run`
/// (403, 404) and why, inside its transaction; nothing when it gave them all.
pub async fn record_unavailable(
    tx: &mut PgConnection,
    run: &Run,
    unavailable: &[(crate::catalog::List, String)],
) -> sqlx::Result<()> {
    if unavailable.is_empty() {
        return Ok(());
    }
    let lists: serde_json::Map<String, serde_json::Value> = unavailable
        .iter()
        .map(|(list, reason)| {
            (
                list.name().to_owned(),
                crate::scrub::scrub_text(reason).into(),
            )
        })
        .collect();
    sqlx::query(include_str!("../../sql/runs/lists_unavailable.sql"))
        .bind(run.id)
        .bind(serde_json::Value::Object(lists))
        .execute(tx)
        .await?;
    Ok(())
}

/// The project id for `--project`, by id or by a name an earlier sync stored; else the
/// text itself, taken as an id.
pub async fn resolve_project<'c>(
    db: impl sqlx::PgExecutor<'c>,
    project: &str,
) -> sqlx::Result<String> {
    let id: Option<String> = sqlx::query_scalar(include_str!("../../sql/runs/resolve_project.sql"))
        .bind(project)
        .fetch_optional(db)
        .await?;
    Ok(id.unwrap_or_else(|| project.to_owned()))
}
