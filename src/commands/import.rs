//! `ampsync import`: applies saved `List installations` responses as snapshots, oldest
//! first, through the same apply path as `sync`, so history can be rebuilt from
//! archived dumps. Saved `Project`, `Integration[]`, `Connection[]` and `ProviderApp[]`
//! responses may come along.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::api::model;
use crate::api::stream::{read_array_blocking, StreamError};
use crate::catalog::List;
use crate::config::ConfigError;
use crate::input::{self, is_stdin};
use crate::progress::{CountingReader, Progress, Unit};
use crate::run::lifecycle::{self, Outcome};
use crate::shutdown::Shutdown;
use crate::snapshot::rejects::OtherProjects;
use crate::snapshot::{ListSink, Snapshot};
use crate::telemetry::Phase;
use tracing::Instrument;

/// What `ampsync import` asks.
pub struct ImportRequest {
    pub files: Vec<PathBuf>,
    pub project: String,
    /// One per file, in the order of `files`; empty means each file's modification time.
    pub observed_at: Vec<DateTime<Utc>>,
    pub project_file: Option<PathBuf>,
    pub integrations_file: Option<PathBuf>,
    /// Saved connections lists: none, one for every file, or one per file (in the
    /// order of `files`).
    pub connections_files: Vec<PathBuf>,
    /// Saved provider-apps lists, as `connections_files`.
    pub provider_apps_files: Vec<PathBuf>,
    /// Saved operations responses, as `connections_files`: each applied after its
    /// snapshot, in the same run.
    pub operations_files: Vec<PathBuf>,
    pub allow_mass_delete: bool,
    pub wait: bool,
    /// The longest installation element accepted, in bytes.
    pub max_element: usize,
}

/// One installations file to import: its path, its observed time, and the list files
/// that go with it.
/// With it, its position among the files given (which `--operations-file` it takes).
type ImportFile = (PathBuf, DateTime<Utc>, (usize, Vec<(List, PathBuf)>));

/// Imports every file as one run each; stops at the first that fails.
pub async fn import(
    pool: &PgPool,
    req: &ImportRequest,
    mut shutdown: Shutdown,
) -> Result<Vec<Outcome>> {
    check_inputs(req)?;
    let mut files = observed_times(req)?;
    let lists = list_files(req)?;
    files.sort_by_key(|(_, at, _)| *at);
    if let Some(pair) = files.windows(2).find(|w| w[0].1 == w[1].1) {
        bail!(
            "{} and {} have the same observed time {}; give each file its own --observed-at",
            pair[0].0.display(),
            pair[1].0.display(),
            pair[0].1.to_rfc3339()
        );
    }

    // Read before the lock is taken, but a FIFO without a writer may still block here:
    // a signal must end the wait.
    let project_json = match req.project_file.as_deref() {
        Some(path) => Some(shutdown.interruptible(read_project(path)).await??),
        None => None,
    };
    let integrations = match req.integrations_file.as_deref() {
        Some(path) => Some(shutdown.interruptible(read_integrations(path)).await??),
        None => None,
    };
    let project_id = match &project_json {
        Some(project) => project.id.clone(),
        None => crate::run::ledger::resolve_project(pool, &req.project)
            .await
            .context("looking up the project")?,
    };
    let span =
        tracing::info_span!(target: crate::telemetry::RUN_TARGET, "import", project = %project_id);
    let files = files
        .into_iter()
        .map(|(path, at, i)| (path, at, (i, lists(i))))
        .collect();
    import_files(
        pool,
        req,
        shutdown,
        files,
        project_id,
        project_json,
        integrations,
    )
    .instrument(span)
    .await
}

/// The rest of an import, once the files are known: lock, then one run per file.
async fn import_files(
    pool: &PgPool,
    req: &ImportRequest,
    mut shutdown: Shutdown,
    files: Vec<ImportFile>,
    project_id: String,
    project_json: Option<SavedProject>,
    integrations: Option<Vec<Value>>,
) -> Result<Vec<Outcome>> {
    let mut conn = shutdown
        .interruptible(lifecycle::lock_connection(
            pool,
            &project_id,
            req.wait,
            false,
        ))
        .await??;
    // A file observed at exactly the time of an applied snapshot was imported before
    // (say, the same backfill run twice): skip it. Anything else must be newer than
    // the newest applied snapshot, since history only moves forward.
    let mut pending = Vec::new();
    for (path, at, lists) in files {
        if crate::run::ledger::applied_at(&mut conn, &project_id, at).await? {
            tracing::warn!(file = %path.display(), observed_at = %at.to_rfc3339(), "already applied; skipped");
            println!(
                "{}: a snapshot observed at {} was already applied; skipped",
                path.display(),
                at.to_rfc3339()
            );
        } else {
            pending.push((path, at, lists));
        }
    }
    if let Some(newest) = crate::run::ledger::newest_observed(&mut conn, &project_id).await? {
        if let Some((path, at, _)) = pending.first().filter(|(_, at, _)| *at <= newest) {
            bail!(
                "refusing to import {} observed at {}: project {project_id} already has a snapshot observed at {}, and history only moves forward",
                path.display(),
                at.to_rfc3339(),
                newest.to_rfc3339()
            );
        }
    }

    let mut outcomes = Vec::new();
    for (path, observed_at, (index, lists)) in pending {
        let run =
            lifecycle::start_run(pool, &mut conn, "import", &project_id, None, observed_at).await?;
        let outcome = lifecycle::finish(
            pool,
            &mut conn,
            &run,
            shutdown.clone(),
            async |conn: &mut sqlx::PgConnection| {
                let read_started = Instant::now();
                let phase = Phase::Read.start();
                let mut snapshot =
                    read_snapshot(&path, project_id.clone(), req.max_element).await?;
                if let Some(others) = snapshot.other_projects() {
                    return Err(wrong_project(&path, &snapshot, &others).into());
                }
                if let Some(project) = &project_json {
                    snapshot.add_project(
                        serde_json::from_value(project.raw.clone())
                            .context("reading the project file")?,
                    );
                }
                if let Some(integrations) = &integrations {
                    snapshot.add_integrations(integrations.clone());
                }
                for (list, file) in &lists {
                    snapshot.add_list(read_list(file, *list, &project_id, req.max_element).await?);
                }
                phase.end();
                let read_time = read_started.elapsed();
                let apply_started = Instant::now();
                let outcome = lifecycle::apply_snapshot(
                    conn,
                    &run,
                    &mut snapshot,
                    None,
                    req.allow_mass_delete,
                )
                .await?;
                lifecycle::log_summary("import", &outcome, read_time, apply_started.elapsed());
                Ok(outcome)
            },
        )
        .await?;
        let outcome = match operations_file(req, index) {
            Some(file) => import_operations(&mut conn, &run, outcome, file).await?,
            None => outcome,
        };
        outcomes.push(outcome);
    }
    lifecycle::release(conn, &project_id).await;
    Ok(outcomes)
}

/// A file most of whose installations belong to other projects: most likely `--project`
/// named the project by something other than its id (exit 2; nothing is written).
fn wrong_project(path: &Path, snapshot: &Snapshot, others: &OtherProjects) -> ConfigError {
    let example = others
        .top(1)
        .first()
        .map(|(id, _)| format!(", e.g. --project {id}"))
        .unwrap_or_default();
    ConfigError(format!(
        "{}: {}; nothing was imported. Pass the id of the project the file holds with --project <id>{example}",
        path.display(),
        lifecycle::other_projects_message(snapshot, others),
    ))
}

/// Every input file exists, is not a directory, and a pipe is read at most once: a
/// usage error before any run starts otherwise.
fn check_inputs(req: &ImportRequest) -> Result<(), ConfigError> {
    let use_of = |flag, path, reads| input::Use { flag, path, reads };
    let mut inputs: Vec<input::Use> = req.files.iter().map(|f| use_of("", f, 1)).collect();
    inputs.extend(
        req.project_file
            .iter()
            .map(|f| use_of("--project-file", f, 1)),
    );
    inputs.extend(
        req.integrations_file
            .iter()
            .map(|f| use_of("--integrations-file", f, 1)),
    );
    for (flag, given) in [
        ("--connections-file", &req.connections_files),
        ("--provider-apps-file", &req.provider_apps_files),
        ("--operations-file", &req.operations_files),
    ] {
        // One list file for every snapshot is read once per snapshot.
        let reads = if given.len() == 1 { req.files.len() } else { 1 };
        inputs.extend(given.iter().map(|f| use_of(flag, f, reads)));
    }
    input::check_inputs(inputs)
}

/// Each file with its observed time: the matching `--observed-at`, or its modification
/// time (now for standard input).
fn observed_times(req: &ImportRequest) -> Result<Vec<(PathBuf, DateTime<Utc>, usize)>> {
    if !req.observed_at.is_empty() && req.observed_at.len() != req.files.len() {
        bail!(
            "{} files but {} --observed-at values: give one per file, in the same order, or none",
            req.files.len(),
            req.observed_at.len()
        );
    }
    req.files
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let at = match req.observed_at.get(i) {
                Some(at) => *at,
                None if is_stdin(path) => Utc::now(),
                None => std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map(DateTime::<Utc>::from)
                    .with_context(|| {
                        format!("reading the modification time of {}", path.display())
                    })?,
            };
            Ok((path.clone(), at, i))
        })
        .collect()
}

/// The list files that go with the `i`th file: each flag's only file, or its `i`th.
fn list_files(req: &ImportRequest) -> Result<impl Fn(usize) -> Vec<(List, PathBuf)> + '_> {
    let flags = [
        (
            List::Connections,
            "--connections-file",
            &req.connections_files,
        ),
        (
            List::ProviderApps,
            "--provider-apps-file",
            &req.provider_apps_files,
        ),
    ];
    let operations = (
        List::Connections,
        "--operations-file",
        &req.operations_files,
    );
    for (_, flag, given) in flags.iter().chain([&operations]) {
        if given.len() > 1 && given.len() != req.files.len() {
            bail!(
                "{} files but {} {flag} values: give one for every file, or one per file in the same order",
                req.files.len(),
                given.len()
            );
        }
    }
    Ok(move |i: usize| {
        flags
            .iter()
            .filter_map(|(list, _, given)| {
                let file = if given.len() == 1 {
                    given.first()
                } else {
                    given.get(i)
                };
                file.map(|f| (*list, f.clone()))
            })
            .collect()
    })
}

/// The operations file of the `i`th file: the only one, or its `i`th.
fn operations_file(req: &ImportRequest, i: usize) -> Option<&Path> {
    match req.operations_files.as_slice() {
        [only] => Some(only),
        all => all.get(i).map(PathBuf::as_path),
    }
}

/// Writes a saved operations response into the run that applied its snapshot, and adds
/// what it wrote to the run's outcome. The snapshot is applied whatever happens here.
async fn import_operations(
    conn: &mut sqlx::PgConnection,
    run: &crate::run::ledger::Run,
    mut outcome: Outcome,
    file: &Path,
) -> Result<Outcome> {
    let phase = Phase::Operations.start();
    let value: Value = input::read_with(file, serde_json::from_reader)
        .await?
        .with_context(|| format!("reading {} as JSON", file.display()))?;
    let Some(elements) = crate::operations::archived(value) else {
        bail!(
            "{} is not a saved operations response (a list response with results, an array of them, or an array of operations); the snapshot of run {} is applied, its operations are not",
            file.display(),
            run.id
        );
    };
    let run_ref = crate::operations::RunRef {
        project: &outcome.project_id,
        id: run.id,
        observed_at: run.observed_at,
        group_ref: None,
    };
    let summary = crate::operations::import(conn, run_ref, elements).await?;
    phase.end();
    outcome.count_operations(&summary);
    if summary.rejected > 0 {
        outcome.rejected.rejected += summary.rejected;
    }
    Ok(outcome)
}

/// Reads a saved list response (`Connection[]`, `ProviderApp[]`) into a sink, element
/// by element, as a sync reads it from the API.
async fn read_list(
    path: &Path,
    list: List,
    project_id: &str,
    max_element: usize,
) -> Result<ListSink> {
    let sink = ListSink::new(list, project_id);
    let shown = path.display().to_string();
    let result = input::read_with(path, move |reader| {
        read_array_blocking(reader, sink, max_element)
    })
    .await?;
    match result {
        Ok((sink, count)) => {
            tracing::info!(file = %shown, list = list.name(), elements = count, "read");
            Ok(sink)
        }
        Err(StreamError::Interrupted(reason) | StreamError::Invalid(reason)) => {
            bail!("{shown} is not a complete JSON array of {list}: {reason}")
        }
    }
}

/// A saved project response, kept as JSON until each run reads it.
#[derive(Clone)]
struct SavedProject {
    id: String,
    raw: Value,
}

async fn read_project(path: &Path) -> Result<SavedProject> {
    let raw: Value = input::read_with(path, serde_json::from_reader)
        .await?
        .with_context(|| format!("reading {} as JSON", path.display()))?;
    let project: model::Project = serde_json::from_value(raw.clone())
        .with_context(|| format!("{} is not a saved project response", path.display()))?;
    Ok(SavedProject {
        id: project.id,
        raw,
    })
}

async fn read_integrations(path: &Path) -> Result<Vec<Value>> {
    input::read_with(path, serde_json::from_reader)
        .await?
        .with_context(|| {
            format!(
                "{} is not a saved integrations response (a JSON array)",
                path.display()
            )
        })
}

/// Reads a saved installations response into a snapshot, element by element.
async fn read_snapshot(path: &Path, project_id: String, max_element: usize) -> Result<Snapshot> {
    let progress = Progress::start("reading", Unit::Bytes, input::size(path));
    let counter = progress.counter();
    let mut snapshot = Snapshot::new(project_id);
    snapshot.cover_installations();
    let shown = path.display().to_string();
    let started = std::time::Instant::now();
    let result = input::read_with(path, move |reader| {
        read_array_blocking(CountingReader::new(reader, counter), snapshot, max_element)
    })
    .await?;
    drop(progress);
    match result {
        Ok((snapshot, count)) => {
            tracing::info!(
                file = %shown,
                installations = count,
                seconds = started.elapsed().as_secs_f64(),
                "read"
            );
            Ok(snapshot)
        }
        Err(StreamError::Interrupted(reason) | StreamError::Invalid(reason)) => {
            bail!("{shown} is not a complete JSON array of installations: {reason}")
        }
    }
}
