//! `ampsync prune`: retention for what only grows. It deletes a project's runs (and
//! their rejected records) that started before a cutoff, keeping the runs later runs
//! and `status` depend on, and with `--history` the history versions that ended before
//! the cutoff (operations' too) and the operation log entries logged before it,
//! recording that cutoff (`project_retention.history_since`) so that `export`
//! refuses times whose history is gone. One transaction per project, under the
//! project's lock, so a sync never sees half a prune; `--dry-run` does the same work
//! and rolls it back.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{Connection, PgPool};

use crate::catalog::Table;
use crate::config::ConfigError;
use crate::run::lifecycle;

/// How many project ids a message lists at most.
const NAMED_PROJECTS: usize = 20;

/// The cutoff of `--older-than`: `now` minus `older_than`. An age that reaches before
/// the earliest time PostgreSQL stores (4714-11-24 BC, the start of the Julian day
/// count) is a usage error: the server would fail the prune with "timestamp out of
/// range".
pub fn cutoff(now: DateTime<Utc>, older_than: Duration) -> Result<DateTime<Utc>, ConfigError> {
    let too_long = || {
        ConfigError(format!(
            "--older-than {} reaches before the earliest time PostgreSQL stores (4714-11-24 BC); nothing older can exist, so pass a shorter age",
            humantime::format_duration(older_than)
        ))
    };
    let earliest = NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(too_long)?;
    chrono::Duration::from_std(older_than)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .filter(|cutoff| *cutoff >= earliest)
        .ok_or_else(too_long)
}

/// What `ampsync prune` asks.
pub struct PruneRequest {
    /// Projects to prune; all that the run ledger knows when empty.
    pub projects: Vec<String>,
    pub cutoff: DateTime<Utc>,
    pub history: bool,
    pub dry_run: bool,
}

/// What was (or, in a dry run, would be) deleted for one project.
#[derive(Debug, Default)]
pub struct Pruned {
    pub project: String,
    pub runs: i64,
    pub rejected_records: i64,
    /// History versions per table, for `--history`.
    pub versions: Vec<(&'static str, i64)>,
    /// Operation log entries logged before the cutoff, for `--history`.
    pub log_entries: i64,
}

impl Pruned {
    /// One line for stdout.
    pub fn summary(&self, req: &PruneRequest) -> String {
        let verb = if req.dry_run { "would prune" } else { "pruned" };
        let cutoff = req.cutoff.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut line = format!(
            "project {}: {verb} {} runs and {} rejected records started before {cutoff}",
            self.project, self.runs, self.rejected_records
        );
        if req.history {
            let total: i64 = self.versions.iter().map(|(_, n)| n).sum();
            let per_table: Vec<String> = self
                .versions
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            line.push_str(&format!("; {total} history versions that ended before it"));
            if !per_table.is_empty() {
                line.push_str(&format!(" ({})", per_table.join(", ")));
            }
            if self.log_entries > 0 {
                line.push_str(&format!(
                    "; {} operation log entries logged before it",
                    self.log_entries
                ));
            }
        }
        line
    }
}

/// Prunes each project of `req` in a transaction of its own. A project the run ledger
/// does not know is a usage error (a mistyped id would otherwise print "pruned 0" and
/// look like a prune), found before any project is pruned.
pub async fn prune(pool: &PgPool, req: &PruneRequest) -> Result<Vec<Pruned>> {
    let known: Vec<String> = sqlx::query_scalar(include_str!("../../sql/prune/projects.sql"))
        .fetch_all(pool)
        .await
        .context("listing the projects of the run ledger")?;
    let projects = if req.projects.is_empty() {
        known
    } else {
        if let Some(unknown) = req.projects.iter().find(|p| !known.contains(p)) {
            return Err(unknown_project(unknown, &known).into());
        }
        req.projects.clone()
    };
    let mut done = Vec::with_capacity(projects.len());
    for project in projects {
        let pruned = prune_project(pool, req, &project)
            .await
            .with_context(|| format!("pruning project {project}"))?;
        done.push(pruned);
    }
    Ok(done)
}

/// `project X is not in the run ledger (it knows a, b); ...`, the ids scrubbed.
fn unknown_project(project: &str, known: &[String]) -> ConfigError {
    let knows = if known.is_empty() {
        "it knows none".to_owned()
    } else {
        let mut named = known[..known.len().min(NAMED_PROJECTS)].join(", ");
        if known.len() > NAMED_PROJECTS {
            named.push_str(&format!(" and {} more", known.len() - NAMED_PROJECTS));
        }
        format!("it knows {named}")
    };
    ConfigError(crate::scrub::scrub_string(format!(
        "project {project} is not in the run ledger ({knows}); pass --project with one of those ids, or none to prune them all"
    )))
}

async fn prune_project(pool: &PgPool, req: &PruneRequest, project: &str) -> Result<Pruned> {
    // A dry run writes nothing, so it needs no lock (as `sync --dry-run`).
    let mut conn = lifecycle::lock_connection(pool, project, false, req.dry_run).await?;
    let mut pruned = Pruned {
        project: project.to_owned(),
        ..Pruned::default()
    };
    let mut tx = conn.begin().await.context("starting the transaction")?;
    (pruned.runs, pruned.rejected_records) =
        sqlx::query_as(include_str!("../../sql/prune/runs.sql"))
            .bind(project)
            .bind(req.cutoff)
            .fetch_one(&mut *tx)
            .await
            .context("deleting old runs and their rejected records")?;
    if req.history {
        // The snapshot's tables, then operations (which `export` leaves out).
        for table in Table::NAMES.into_iter().chain(["operations"]) {
            let n: i64 = sqlx::query_scalar(include_str!("../../sql/prune/history.sql"))
                .bind(table)
                .bind(project)
                .bind(req.cutoff)
                .fetch_one(&mut *tx)
                .await
                .with_context(|| format!("deleting old versions of {table}"))?;
            pruned.versions.push((table, n));
        }
        pruned.log_entries = sqlx::query_scalar(include_str!("../../sql/prune/operation_logs.sql"))
            .bind(project)
            .bind(req.cutoff)
            .fetch_one(&mut *tx)
            .await
            .context("deleting old operation log entries")?;
        // Export refuses times before the cutoff from now on: the history of what it
        // exports is partial.
        let exported = |table: &str| Table::named(table).is_some();
        if pruned.versions.iter().any(|(t, n)| *n > 0 && exported(t)) {
            sqlx::query(include_str!("../../sql/prune/history_since.sql"))
                .bind(project)
                .bind(req.cutoff)
                .execute(&mut *tx)
                .await
                .context("recording the cutoff of the history")?;
        }
    }
    if req.dry_run {
        tx.rollback().await.context("rolling back the dry run")?;
        // It took no lock, so it has none to release.
        lifecycle::close(conn).await;
    } else {
        tx.commit().await.context("committing")?;
        lifecycle::release(conn, project).await;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_past_the_earliest_time_postgres_stores_is_a_usage_error() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let year = Duration::from_secs(31_557_600);
        let cutoff = cutoff(now, year * 6000).unwrap();
        assert!(cutoff.to_rfc3339().starts_with("-3974"), "{cutoff}");
        for age in [year * 7000, Duration::MAX] {
            let error = super::cutoff(now, age).unwrap_err().to_string();
            assert!(error.contains("4714-11-24 BC"), "{error}");
        }
    }
}
