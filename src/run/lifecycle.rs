//! One run of one project, the same for `sync` and `import`: take the project's lock,
//! record the run as started, apply its snapshot in one transaction, record it as
//! succeeded or failed (a signal included), and release the lock. A dry run
//! ([`dry_run`]) plans the same way and records nothing. Where the snapshot comes from
//! (the API, saved files) is the caller's business.
//!
//! The lifecycle owns the snapshot's fingerprint: it reads the last one from the ledger
//! before planning and records the new one with the run's success, so `apply` never
//! touches the ledger.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::ledger::{self, LockBusy, NewRun, RejectedCount, Run};
use crate::apply::{self, Counts, LastSnapshot};
use crate::catalog::List;
use crate::catalog::Table;
use crate::config::ConfigError;
use crate::progress::{Progress, Unit};
use crate::shutdown::Shutdown;
use crate::snapshot::rejects::OtherProjects;
use crate::snapshot::Snapshot;
use crate::telemetry::Phase;

/// The result of one run, for the report on stdout.
#[derive(Debug)]
pub struct Outcome {
    pub project_id: String,
    /// None for a dry run, which records nothing.
    pub run_id: Option<i64>,
    pub observed_at: DateTime<Utc>,
    pub counts: Counts,
    pub rejected: RejectedCount,
    pub deletions_skipped: Option<String>,
    /// The lists the API would not give (403, 404), each with why.
    pub lists_unavailable: Vec<(List, String)>,
    /// What a sync read of operations after the snapshot, when it read any.
    pub operations: Option<crate::operations::Summary>,
}

impl Outcome {
    /// Adds what a run wrote of operations (after its snapshot) to its per-table counts,
    /// so the report shows `operations +N ~M` beside the snapshot's tables.
    pub fn count_operations(&mut self, summary: &crate::operations::Summary) {
        if summary.inserted + summary.updated > 0 {
            self.counts.insert(
                "operations",
                apply::TableCounts {
                    inserted: summary.inserted,
                    updated: summary.updated,
                    ..Default::default()
                },
            );
        }
    }

    /// `project P: run 7 applied: installations +3 ~1 -2, ...`, one line.
    pub fn summary(&self) -> String {
        let verb = if self.run_id.is_some() {
            "applied"
        } else {
            "would apply (dry run)"
        };
        let run = self
            .run_id
            .map(|id| format!("run {id} "))
            .unwrap_or_default();
        let mut changes: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, c)| **c != Default::default())
            .map(|(table, c)| {
                let mut parts = format!(
                    "{table} +{} ~{} -{}",
                    c.inserted + c.restored,
                    c.updated,
                    c.deleted
                );
                if c.touched > 0 {
                    parts.push_str(&format!(" (tokens refreshed {})", c.touched));
                }
                if c.rehashed > 0 {
                    parts.push_str(&format!(" (rehashed from 0.1.0 {})", c.rehashed));
                }
                parts
            })
            .collect();
        if changes.is_empty() {
            changes.push("no changes".into());
        }
        let mut line = format!(
            "project {}: {run}{verb}: {}",
            self.project_id,
            changes.join(", ")
        );
        if self.rejected.rejected > 0 {
            line.push_str(&format!("; {} records rejected", self.rejected.rejected));
        }
        if self.rejected.without_payload > 0 {
            line.push_str(&format!(
                " ({} stored without their payload)",
                self.rejected.without_payload
            ));
        }
        if let Some(reason) = &self.deletions_skipped {
            line.push_str(&format!("; deletions skipped: {reason}"));
        }
        for (list, reason) in &self.lists_unavailable {
            line.push_str(&format!("; {list} list unavailable ({reason})"));
        }
        if let Some(operations) = &self.operations {
            line.push_str("; ");
            line.push_str(&operations.line());
        }
        line
    }
}

/// A detached connection holding the project's lock (a dry run takes none). Detached so
/// that dropping it closes it: the server then rolls back and releases the lock.
pub async fn lock_connection(
    pool: &PgPool,
    project_id: &str,
    wait: bool,
    dry_run: bool,
) -> Result<PgConnection> {
    let conn: PoolConnection<Postgres> = pool.acquire().await.context("connecting to Postgres")?;
    let mut conn = conn.detach();
    if !dry_run {
        if wait {
            tracing::info!("waiting for the project's lock");
        }
        ledger::lock(&mut conn, project_id, wait).await?;
    }
    Ok(conn)
}

/// Marks dead runs abandoned and records this one as running.
pub async fn start_run(
    pool: &PgPool,
    conn: &mut PgConnection,
    command: &str,
    project_id: &str,
    group_ref: Option<&str>,
    observed_at: DateTime<Utc>,
) -> Result<Run> {
    let abandoned = ledger::abandon_unfinished(conn, project_id)
        .await
        .context("checking for unfinished runs")?;
    if !abandoned.is_empty() {
        tracing::warn!(runs = ?abandoned, "earlier runs of this project stopped without finishing; marked abandoned");
    }
    let run = ledger::start(
        pool,
        NewRun {
            command,
            project: project_id,
            group_ref,
            observed_at,
        },
    )
    .await
    .context("recording the run")?;
    tracing::info!(run = run.id, observed_at = %observed_at.to_rfc3339(), "run started");
    Ok(run)
}

/// Runs `work` on the locked connection; on error or signal records the run failed.
/// After an error the caller should drop the connection, not reuse it: it may be
/// mid-statement. Dropping it makes the server roll back and release the lock.
///
/// A usage error (exit 2: an import given the wrong project, say) is not a failed run
/// but a command that should not have run: its row is removed, so a mistyped project
/// does not leave `ampsync status` reporting a failure for a project that may not
/// exist. Nothing was applied either way.
pub async fn finish(
    pool: &PgPool,
    conn: &mut PgConnection,
    run: &Run,
    mut shutdown: Shutdown,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome>,
) -> Result<Outcome> {
    let result = match shutdown.interruptible(work(conn)).await {
        Ok(Err(e)) if lost_database(&e) => Err(e.context(
            "lost the connection to Postgres (the server restarted or the connection was closed); the transaction rolled back, so nothing was applied, and the next run starts over",
        )),
        Ok(result) => result,
        Err(interrupted) => Err(interrupted.into()),
    };
    if let Err(e) = &result {
        let message = crate::error::message(e);
        if refused(e) {
            tracing::error!(run = run.id, error = %message, "run refused; nothing recorded");
            if let Err(record) = ledger::discard(pool, run).await {
                tracing::error!(run = run.id, error = %record, "could not remove the run's row");
            }
        } else {
            tracing::error!(run = run.id, error = %message, "run failed");
            if let Err(record) = ledger::fail(pool, run, &message).await {
                tracing::error!(run = run.id, error = %record, "could not record the failure");
            }
        }
    }
    result
}

/// True when `error` is a usage error (exit 2, see `commands::exit`): a configuration
/// error in its chain, and no busy lock.
fn refused(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<ConfigError>()) && !error.chain().any(|e| e.is::<LockBusy>())
}

/// True when `error` comes from losing the database connection: an I/O error, or the
/// server ending the session (SQLSTATE class 57P, operator intervention; 08, connection).
fn lost_database(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => true,
            Some(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
            _ => false,
        })
}

/// Releases the project's lock and closes the connection after the last run. Only for a
/// connection that holds the lock: unlocking one it never took makes the server warn
/// (`you don't own a lock of type ExclusiveLock`), which sqlx logs. A dry run's
/// connection, which took none, goes through [`close`].
pub async fn release(mut conn: PgConnection, project_id: &str) {
    let _ = ledger::unlock(&mut conn, project_id).await;
    close(conn).await;
}

/// Closes a connection that holds no lock (a dry run's).
pub async fn close(conn: PgConnection) {
    let _ = conn.close().await;
}

/// Plans and applies a snapshot in one transaction, closing the run with it.
pub async fn apply_snapshot(
    conn: &mut PgConnection,
    run: &Run,
    snapshot: &mut Snapshot,
    group_ref: Option<&str>,
    allow_mass_delete: bool,
) -> Result<Outcome> {
    fail::fail_point!("after-fetch", |code| crate::failpoints::exit(code));
    let _progress = Progress::start("applying", Unit::None, None);
    let mut tx = conn
        .begin()
        .await
        .context("starting the apply transaction")?;
    if snapshot.unreadable() {
        return record_unreadable(tx, run, snapshot).await;
    }
    let phase = Phase::Plan.start();
    let last = last_snapshot(&mut tx, snapshot).await?;
    let plan = apply::plan(&mut tx, snapshot, last, group_ref, allow_mass_delete).await?;
    phase.end();
    if let Some(reason) = &plan.deletions_skipped {
        tracing::warn!(reason = %reason, "deletions skipped");
    }
    let phase = Phase::Write.start();
    let counts = apply::execute(&mut tx, snapshot, &plan, run.id, run.observed_at).await?;
    phase.end();
    let phase = Phase::Record.start();
    ledger::record_snapshot(&mut tx, run.id, plan.fingerprint())
        .await
        .context("recording the snapshot's fingerprint")?;
    let rejected = ledger::record_rejected(&mut tx, run.id, &snapshot.rejects()).await?;
    ledger::succeed(
        &mut tx,
        run,
        &counts,
        ledger::Succeeded {
            rejected,
            deletions_skipped: plan.deletions_skipped.as_deref(),
            temp_bytes: snapshot.temp_bytes(),
        },
    )
    .await
    .context("recording the run's outcome")?;
    ledger::record_unavailable(&mut tx, run, &snapshot.unavailable)
        .await
        .context("recording the lists the API would not give")?;
    fail::fail_point!("before-commit", |code| crate::failpoints::exit(code));
    tx.commit().await.context("committing the snapshot")?;
    phase.end();
    fail::fail_point!("after-commit", |code| crate::failpoints::exit(code));
    Ok(Outcome {
        project_id: snapshot.project_id.clone(),
        run_id: Some(run.id),
        observed_at: run.observed_at,
        counts,
        rejected,
        deletions_skipped: plan.deletions_skipped,
        lists_unavailable: snapshot.unavailable.clone(),
        operations: None,
    })
}

/// A dry run: plans the snapshot as [`apply_snapshot`] would, on a connection that
/// holds no lock, and records nothing (no run, no fingerprint, no rejected records).
pub async fn dry_run(
    conn: &mut PgConnection,
    snapshot: &mut Snapshot,
    observed_at: DateTime<Utc>,
    group_ref: Option<&str>,
    allow_mass_delete: bool,
) -> Result<Outcome> {
    if snapshot.unreadable() {
        apply::log_rejected(snapshot);
        return Err(unreadable(snapshot, None));
    }
    let phase = Phase::Plan.start();
    let last = last_snapshot(conn, snapshot).await?;
    let plan = apply::plan(conn, snapshot, last, group_ref, allow_mass_delete).await?;
    phase.end();
    Ok(Outcome {
        project_id: snapshot.project_id.clone(),
        run_id: None,
        observed_at,
        counts: plan.counts(),
        rejected: RejectedCount {
            rejected: snapshot.rejected(),
            without_payload: snapshot.rejects().without_payload(),
        },
        deletions_skipped: plan.deletions_skipped,
        lists_unavailable: snapshot.unavailable.clone(),
        operations: None,
    })
}

/// What the project's last successful run recorded of its snapshot, if it applied it
/// whole: [`apply::plan`] skips an identical snapshot.
async fn last_snapshot(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
) -> Result<Option<LastSnapshot>> {
    let last = ledger::last_snapshot(conn, &snapshot.project_id)
        .await
        .context("reading the last run's snapshot")?;
    Ok(last.and_then(|(run_id, fingerprint)| {
        fingerprint.map(|fingerprint| LastSnapshot {
            run_id,
            fingerprint,
        })
    }))
}

/// A snapshot none of whose installations could be read fails its run: applying the
/// rest (the project, its integrations) as a success would let `ampsync status` stay
/// green while the data goes stale, which is what an API change to a required field
/// looks like. The rejected records and their count are still recorded (and committed)
/// so the failure can be looked into; the run is then recorded as failed.
async fn record_unreadable(
    mut tx: sqlx::Transaction<'_, Postgres>,
    run: &Run,
    snapshot: &Snapshot,
) -> Result<Outcome> {
    let phase = Phase::Record.start();
    snapshot
        .stored()
        .map_err(|reason| apply::ApplyError::Spill {
            project: snapshot.project_id.clone(),
            reason,
        })?;
    apply::log_rejected(snapshot);
    let rejected = ledger::record_rejected(&mut tx, run.id, &snapshot.rejects()).await?;
    ledger::record_rejected_count(&mut tx, run, rejected)
        .await
        .context("recording the run's rejected records")?;
    tx.commit()
        .await
        .context("committing the run's rejected records")?;
    phase.end();
    Err(unreadable(snapshot, Some(run.id)))
}

/// `3000 of the 5000 installations belong to other projects (proj-a: 2990, proj-b: 10),
/// not to P`: what [`Snapshot::other_projects`] found, the ids scrubbed.
pub fn other_projects_message(snapshot: &Snapshot, others: &OtherProjects) -> String {
    let top = others.top(3);
    let named: u64 = top.iter().map(|(_, n)| n).sum();
    let mut ids: Vec<String> = top
        .into_iter()
        .map(|(id, n)| format!("{id}: {n}"))
        .collect();
    if others.count > named {
        ids.push(format!("others: {}", others.count - named));
    }
    format!(
        "{} of the {} installations belong to other projects ({}), not to {}",
        others.count,
        snapshot.installations(),
        ids.join(", "),
        snapshot.project_id
    )
}

/// The error of a snapshot whose installations could none be read (see
/// [`Snapshot::unreadable`]); `run` is where its rejected records were recorded.
pub fn unreadable(snapshot: &Snapshot, run: Option<i64>) -> anyhow::Error {
    let rejects = snapshot.rejects();
    let first = rejects
        .first(1)
        .first()
        .map(|r| format!(" The first, {} {}: {}.", r.source, r.position, r.reason))
        .unwrap_or_default();
    let recorded = match run {
        Some(id) => format!(" They are in ampersand.rejected_records (sync_run_id {id})."),
        None => String::new(),
    };
    anyhow::anyhow!(
        "none of the {} installations of project {} could be read, so nothing was applied.{first}{recorded} If the API changed the shape of installations, this release of ampsync cannot read them",
        snapshot.installations(),
        snapshot.project_id
    )
}

/// The `run summary` log event, one per run: what changed (totals, installations, and
/// every table's counts as JSON text), what was rejected or skipped, and how long the
/// fetch (or file read) and the apply took. `run` is absent for a dry run.
pub fn log_summary(command: &str, outcome: &Outcome, fetch: Duration, apply: Duration) {
    let total = |f: fn(&apply::TableCounts) -> u64| outcome.counts.values().map(f).sum::<u64>();
    let installations = outcome
        .counts
        .get(Table::Installations.name())
        .cloned()
        .unwrap_or_default();
    // Present only when a list was unavailable: `connections,provider_apps`.
    let unavailable = (!outcome.lists_unavailable.is_empty()).then(|| {
        let names: Vec<&str> = outcome
            .lists_unavailable
            .iter()
            .map(|(l, _)| l.name())
            .collect();
        names.join(",")
    });
    tracing::info!(
        command,
        run = outcome.run_id,
        dry_run = outcome.run_id.is_none(),
        observed_at = %outcome.observed_at.to_rfc3339(),
        inserted = total(|c| c.inserted + c.restored),
        updated = total(|c| c.updated),
        deleted = total(|c| c.deleted),
        tokens_refreshed = total(|c| c.touched),
        installations_inserted = installations.inserted + installations.restored,
        installations_updated = installations.updated,
        installations_deleted = installations.deleted,
        rejected = outcome.rejected.rejected,
        rejected_without_payload = outcome.rejected.without_payload,
        deletions_skipped = outcome.deletions_skipped.as_deref(),
        lists_unavailable = unavailable.as_deref(),
        counts = %serde_json::to_string(&outcome.counts).unwrap_or_default(),
        fetch_seconds = fetch.as_secs_f64(),
        apply_seconds = apply.as_secs_f64(),
        "run summary"
    );
}
