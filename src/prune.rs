//! `ampsync prune`: retention for what only grows. It deletes a project's runs (and
//! their rejected records) that started before a cutoff, keeping the runs later runs
//! and `status` depend on, and with `--history` the history versions that ended before
//! the cutoff. One transaction per project, under the project's lock, so a sync never
//! sees half a prune; `--dry-run` does the same work and rolls it back.

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{Connection, PgPool};

use crate::catalog::Table;
use crate::lifecycle;

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
    pub versions: Vec<(Table, i64)>,
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
        }
        line
    }
}

/// Prunes each project of `req` in a transaction of its own.
pub async fn prune(pool: &PgPool, req: &PruneRequest) -> Result<Vec<Pruned>> {
    let projects = if req.projects.is_empty() {
        sqlx::query_scalar(include_str!("../sql/prune/projects.sql"))
            .fetch_all(pool)
            .await
            .context("listing the projects of the run ledger")?
    } else {
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

async fn prune_project(pool: &PgPool, req: &PruneRequest, project: &str) -> Result<Pruned> {
    // A dry run writes nothing, so it needs no lock (as `sync --dry-run`).
    let mut conn = lifecycle::lock_connection(pool, project, false, req.dry_run).await?;
    let mut pruned = Pruned {
        project: project.to_owned(),
        ..Pruned::default()
    };
    let mut tx = conn.begin().await.context("starting the transaction")?;
    (pruned.runs, pruned.rejected_records) = sqlx::query_as(include_str!("../sql/prune/runs.sql"))
        .bind(project)
        .bind(req.cutoff)
        .fetch_one(&mut *tx)
        .await
        .context("deleting old runs and their rejected records")?;
    if req.history {
        for table in Table::ALL {
            let n: i64 = sqlx::query_scalar(include_str!("../sql/prune/history.sql"))
                .bind(table.name())
                .bind(project)
                .bind(req.cutoff)
                .fetch_one(&mut *tx)
                .await
                .with_context(|| format!("deleting old versions of {table}"))?;
            pruned.versions.push((table, n));
        }
    }
    if req.dry_run {
        tx.rollback().await.context("rolling back the dry run")?;
    } else {
        tx.commit().await.context("committing")?;
    }
    lifecycle::release(conn, project).await;
    Ok(pruned)
}
