//! `ampsync sync` for one project: fetch the project, its integrations, its
//! installations and the connections and provider-apps lists (streamed into a snapshot) and apply them through the run lifecycle
//! (`lifecycle`), which `import` shares; then, under the same lock, read the project's
//! operations (`operations`).

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use sqlx::{PgConnection, PgPool};

use crate::api::{ApiClient, Listed};
use crate::catalog::List;
use crate::progress::{Progress, Unit};
use crate::run::ledger;
use crate::run::lifecycle::{self, Outcome};
use crate::shutdown::Shutdown;
use crate::snapshot::{ListSink, Snapshot};
use crate::telemetry::Phase;
use tracing::Instrument;

/// What `ampsync sync` asks of one project.
pub struct SyncRequest<'a> {
    pub project: &'a str,
    pub group_ref: Option<&'a str>,
    pub dry_run: bool,
    pub allow_mass_delete: bool,
    pub wait: bool,
    pub operations: crate::operations::Settings,
}

/// `ampsync sync` for one project.
pub async fn sync_project(
    pool: &PgPool,
    api: &ApiClient,
    req: &SyncRequest<'_>,
    mut shutdown: Shutdown,
) -> Result<Outcome> {
    let started = Instant::now();
    let project = match shutdown.interruptible(api.project(req.project)).await? {
        Ok(project) => project,
        Err(e) => {
            let e = anyhow::Error::new(e);
            if !req.dry_run {
                record_failure_before_start(pool, req, &e).await;
            }
            return Err(e);
        }
    };
    let span = tracing::info_span!(
        target: crate::telemetry::RUN_TARGET,
        "sync",
        project = %project.id,
        group_ref = req.group_ref
    );
    sync_fetched_project(pool, api, req, shutdown, project, started)
        .instrument(span)
        .await
}

/// The rest of a sync, once the project answered: lock, fetch, apply, record.
async fn sync_fetched_project(
    pool: &PgPool,
    api: &ApiClient,
    req: &SyncRequest<'_>,
    mut shutdown: Shutdown,
    project: crate::api::model::Project,
    started: Instant,
) -> Result<Outcome> {
    let project_id = project.id.clone();
    let mut conn = shutdown
        .interruptible(lifecycle::lock_connection(
            pool,
            &project_id,
            req.wait && !req.dry_run,
            req.dry_run,
        ))
        .await??;
    let newest = ledger::newest_observed(&mut conn, &project_id)
        .await
        .context("reading the project's last run")?;
    let observed_at = ledger::next_observed(Utc::now(), newest);

    let fetch = async {
        let phase = Phase::Fetch.start();
        let integrations = api.integrations(req.project).await?;
        let fetched = Instant::now();
        let progress = Progress::start("fetching installations", Unit::Installations, None);
        let counter = progress.counter();
        let (snapshot, count) = api
            .installations(req.project, req.group_ref, || {
                let mut s = Snapshot::new(project_id.clone());
                s.cover_installations();
                counter.counting(s)
            })
            .await?;
        drop(progress);
        let mut snapshot = snapshot.into_inner();
        tracing::info!(
            installations = count,
            seconds = fetched.elapsed().as_secs_f64(),
            "fetched"
        );
        snapshot.add_project(project);
        snapshot.add_integrations(integrations);
        if let Some(others) = snapshot.other_projects() {
            anyhow::bail!(
                "the API answered installations of other projects: {}; nothing was applied. The project's id came from the API itself, so no flag fixes this: report it to Ampersand",
                lifecycle::other_projects_message(&snapshot, &others)
            );
        }
        for list in List::ALL {
            let listed = api
                .list(req.project, list, req.group_ref, || {
                    ListSink::new(list, &project_id)
                })
                .await?;
            match listed {
                Listed::Read(sink, count) => {
                    tracing::info!(list = list.name(), elements = count, "fetched");
                    snapshot.add_list(sink);
                }
                Listed::Unavailable(reason) => {
                    tracing::warn!(list = list.name(), reason = %reason, "list unavailable; only rows that live installations reach may be deleted");
                    snapshot.list_unavailable(list, reason);
                }
            }
        }
        phase.end();
        Ok::<_, anyhow::Error>(snapshot)
    };

    if req.dry_run {
        let fetch_started = Instant::now();
        let mut snapshot = shutdown.interruptible(fetch).await??;
        let fetch_time = fetch_started.elapsed();
        let plan_started = Instant::now();
        let outcome = shutdown
            .interruptible(lifecycle::dry_run(
                &mut conn,
                &mut snapshot,
                observed_at,
                req.group_ref,
                req.allow_mass_delete,
            ))
            .await??;
        lifecycle::log_summary("sync", &outcome, fetch_time, plan_started.elapsed());
        return Ok(outcome);
    }

    let run = lifecycle::start_run(
        pool,
        &mut conn,
        "sync",
        &project_id,
        req.group_ref,
        observed_at,
    )
    .await?;
    let outcome = lifecycle::finish(
        pool,
        &mut conn,
        &run,
        shutdown.clone(),
        async |conn: &mut PgConnection| {
            let fetch_started = Instant::now();
            let mut snapshot = fetch.await?;
            let fetch_time = fetch_started.elapsed();
            let apply_started = Instant::now();
            let outcome = lifecycle::apply_snapshot(
                conn,
                &run,
                &mut snapshot,
                req.group_ref,
                req.allow_mass_delete,
            )
            .await?;
            lifecycle::log_summary("sync", &outcome, fetch_time, apply_started.elapsed());
            Ok(outcome)
        },
    )
    .await?;
    let outcome = read_operations(&mut conn, api, req, &run, outcome, shutdown).await;
    lifecycle::release(conn, &project_id).await;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "run finished");
    outcome
}

/// Reads the project's operations once its snapshot committed (see `operations`), and
/// adds what was read to the run's outcome. The snapshot stays applied whatever happens
/// here; an error (the database, a signal) is reported as such.
async fn read_operations(
    conn: &mut PgConnection,
    api: &ApiClient,
    req: &SyncRequest<'_>,
    run: &ledger::Run,
    mut outcome: Outcome,
    mut shutdown: Shutdown,
) -> Result<Outcome> {
    if req.operations.mode == crate::operations::Mode::Off {
        return Ok(outcome);
    }
    let run_ref = crate::operations::RunRef {
        project: &outcome.project_id,
        id: run.id,
        observed_at: run.observed_at,
        group_ref: req.group_ref,
    };
    let phase = Phase::Operations.start();
    let read = shutdown
        .interruptible(crate::operations::sync(conn, api, run_ref, &req.operations))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|read| read);
    match read {
        Ok(summary) => {
            phase.end();
            outcome.count_operations(&summary);
            outcome.operations = Some(summary);
            Ok(outcome)
        }
        Err(e) => Err(e.context(format!(
            "run {} applied the snapshot of project {}, but reading its operations stopped; the operations committed so far are kept, with their cursors, and the next sync goes on from there",
            run.id, outcome.project_id
        ))),
    }
}

/// A sync that failed before it could take the lock (the API refused the project, say)
/// still leaves a `failed` row, so `ampsync status` and its probe see the failure. The
/// project is named as an earlier sync stored it, when one did.
async fn record_failure_before_start(pool: &PgPool, req: &SyncRequest<'_>, error: &anyhow::Error) {
    let message = crate::error::message(error);
    tracing::error!(project = req.project, error = %message, "run failed before it started");
    if let Err(e) = ledger::record_failure(pool, "sync", req.project, req.group_ref, &message).await
    {
        tracing::error!(error = %e, "could not record the failure");
    }
}
