//! The commands, and the one place their outcome becomes an exit code: [`main`] parses
//! the command line (`cli`, clap types only), runs the command, and maps its error
//! chain to a code ([`exit`]).
//!
//! `sync` fetches from the API and `import` reads saved files; both drive each project's
//! run through `run::lifecycle`. `export` reads the tables back into the API's JSON.
//! `status` reports the ledger (`metrics` is its OpenMetrics form), `prune` trims
//! history. `completions` and `man` are generated from the command line's definition.

pub mod check;
pub mod completions;
pub mod exit;
pub mod export;
pub mod import;
pub mod man;
pub mod metrics;
pub mod prune;
pub mod status;
pub mod sync;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Parser;
use sqlx::PgPool;

use crate::api::ApiClient;
use crate::cli::{
    ApiArgs, CheckArgs, Cli, Command, ExportArgs, ImportArgs, PruneArgs, StatusArgs, StatusFormat,
    SyncArgs,
};
use crate::config::{ConfigError, RawApi};
use crate::error;
use crate::shutdown::Shutdown;
use crate::telemetry::{self, LogFormat, Telemetry};
use export::ExportRequest;
use import::ImportRequest;
use sync::SyncRequest;

/// Parses the command line, runs the command, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = cli.verbose as i8 - cli.quiet as i8;
    let telemetry = telemetry::init(cli.log_format, verbosity);
    crate::progress::init(
        telemetry.format == LogFormat::Text && std::io::stderr().is_terminal() && verbosity >= 0,
        cli.progress_interval,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ampsync: could not start: {e}");
            telemetry.shutdown();
            return ExitCode::from(exit::RUN_FAILED);
        }
    };
    // A panic is a bug, but it must still end in a documented exit code (1, not Rust's
    // 101), and its message passes the secret filter like every other.
    std::panic::set_hook(Box::new(|info| {
        let message = crate::scrub::scrub_text(&info.to_string());
        eprintln!("ampsync: internal error (a bug; please report it): {message}");
    }));
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(run(cli, &telemetry))
    }))
    .unwrap_or(ExitCode::from(exit::RUN_FAILED));
    // A task still blocked (a parser thread, say) must not hold up the exit after a signal.
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Outside the runtime: the exporters' HTTP client blocks. At most FLUSH_BOUND.
    telemetry.shutdown();
    code
}

async fn run(cli: Cli, telemetry: &Telemetry) -> ExitCode {
    let shutdown = Shutdown::listen();
    match execute(cli, shutdown, telemetry).await {
        Ok(code) => code,
        Err(e) => {
            let code = exit::exit_code(&e);
            tracing::error!(error = %error::message(&e), exit_code = code, "ampsync failed");
            eprintln!("ampsync: {}", error::message(&e));
            ExitCode::from(code)
        }
    }
}

async fn execute(cli: Cli, mut shutdown: Shutdown, telemetry: &Telemetry) -> Result<ExitCode> {
    // Generated from the command line's definition alone: they must work before anything
    // is configured, so they never reach the migrate or connect below.
    match &cli.command {
        Command::Completions(args) => {
            return completions::write(args.shell).map(|()| ExitCode::SUCCESS)
        }
        Command::Man(args) => return man::write(args.dir.as_deref()).map(|()| ExitCode::SUCCESS),
        _ => {}
    }
    let database_url = cli.database_url;
    crate::config::protect_database_password(&database_url);
    // Validate the API settings and the prune's age before touching the database.
    let api = match &cli.command {
        Command::Sync(args) => Some(api_client(&args.api, &mut shutdown).await?),
        Command::Check(args) => Some(api_client(&args.api, &mut shutdown).await?),
        _ => None,
    };
    if let Command::Check(args) = &cli.command {
        return run_check(&database_url, api.as_ref(), args, cli.no_migrate, shutdown).await;
    }
    let prune = match &cli.command {
        Command::Prune(args) => Some(prune_request(args)?),
        _ => None,
    };
    // `export` only reads: it must not change the database it reads, and its user may
    // hold no more than ampersand_reader's rights.
    let migrate = match cli.command {
        Command::Migrate => true,
        Command::Export(_) => false,
        _ => !cli.no_migrate,
    };
    if migrate {
        let applied = crate::db::migrate(&database_url).await?;
        tracing::info!(applied, "migrations up to date");
    } else if matches!(
        cli.command,
        Command::Sync(_) | Command::Import(_) | Command::Prune(_)
    ) {
        // Not migrating, but writing: never into a newer release's schema.
        crate::db::refuse_newer_database(&database_url).await?;
    }
    if matches!(cli.command, Command::Migrate) {
        println!("migrations up to date");
        return Ok(ExitCode::SUCCESS);
    }
    let pool = crate::db::connect(&database_url).await?;
    let runs = matches!(cli.command, Command::Sync(_) | Command::Import(_));
    let result = match cli.command {
        Command::Migrate | Command::Check(_) | Command::Completions(_) | Command::Man(_) => {
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(args) => run_sync(&pool, api.as_ref(), &args, shutdown).await,
        Command::Import(args) => run_import(&pool, args, shutdown).await,
        Command::Status(args) => run_status(&pool, &args, shutdown).await,
        Command::Prune(_) => run_prune(&pool, prune).await,
        Command::Export(args) => run_export(&pool, args, shutdown).await,
    };
    // A failed run's metrics matter most: exported whatever the outcome.
    if runs && telemetry.exports_metrics() {
        export_metrics(&pool, telemetry).await;
    }
    result
}

/// After a sync or an import, the gauges `status --format openmetrics` would print, for
/// the OTLP export. Reading them is the run's last step, not part of it: a failure is a
/// warning.
async fn export_metrics(pool: &PgPool, telemetry: &Telemetry) {
    match status::status(pool, None, None, 1).await {
        Ok(status) => telemetry.record(&metrics::gauges(&status)),
        Err(e) => tracing::warn!(
            error = %error::message(&e),
            "could not read the metrics to export; none are exported"
        ),
    }
}

/// What `ampsync prune` asks, its cutoff computed (a usage error when out of range).
fn prune_request(args: &PruneArgs) -> Result<prune::PruneRequest, ConfigError> {
    Ok(prune::PruneRequest {
        projects: args.projects.clone(),
        cutoff: prune::cutoff(Utc::now(), args.older_than)?,
        history: args.history,
        dry_run: args.dry_run,
    })
}

async fn run_prune(pool: &PgPool, req: Option<prune::PruneRequest>) -> Result<ExitCode> {
    let req = req.ok_or_else(|| ConfigError("no prune request".into()))?;
    for pruned in prune::prune(pool, &req).await? {
        println!("{}", pruned.summary(&req));
    }
    Ok(ExitCode::SUCCESS)
}

/// The API client. The settings are read on the blocking pool, interruptibly: the key
/// file may be a FIFO (`AMPERSAND_API_KEY_FILE=<(pass show ampersand)`), whose open
/// waits for a writer.
async fn api_client(args: &ApiArgs, shutdown: &mut Shutdown) -> Result<ApiClient> {
    let args = args.clone();
    let settings = shutdown
        .interruptible(tokio::task::spawn_blocking(move || api_settings(&args)))
        .await?
        .context("reading the API settings")??;
    ApiClient::new(settings).context("setting up the HTTP client")
}

fn api_settings(args: &ApiArgs) -> Result<crate::api::ApiSettings, ConfigError> {
    RawApi {
        api_url: &args.api_url,
        connect_timeout: args.connect_timeout,
        stall_timeout: args.stall_timeout,
        request_timeout: args.request_timeout,
        retry_attempts: args.retry_attempts,
        retry_budget: args.retry_budget,
        retry_base_delay: args.retry_base_delay,
        limits: crate::api::Limits {
            body: args.max_body_size.as_u64(),
            element: args.element.max_element_size.as_u64(),
        },
    }
    .validate()
}

async fn run_sync(
    pool: &PgPool,
    api: Option<&ApiClient>,
    args: &SyncArgs,
    shutdown: Shutdown,
) -> Result<ExitCode> {
    let api = api.ok_or_else(|| ConfigError("no API client".into()))?;
    let mut codes = Vec::new();
    for project in &args.projects.projects {
        let request = SyncRequest {
            project,
            group_ref: args.group_ref.as_deref(),
            dry_run: args.dry_run,
            allow_mass_delete: args.allow_mass_delete,
            wait: args.wait,
            operations: crate::operations::Settings {
                mode: args.operations.operations,
                max_requests: args.operations.max_operation_requests,
                concurrency: usize::from(args.operations.operation_concurrency),
                logs: args.operations.operation_logs,
                keep_record_ids: args.operations.operation_record_ids,
            },
        };
        match sync::sync_project(pool, api, &request, shutdown.clone()).await {
            Ok(outcome) => {
                println!("{}", outcome.summary());
                codes.push(exit::OK);
            }
            Err(e) => {
                let code = exit::exit_code(&e);
                tracing::error!(project = %project, error = %error::message(&e), "sync failed");
                eprintln!("ampsync: project {project}: {}", error::message(&e));
                codes.push(code);
            }
        }
    }
    Ok(exit::worst(codes))
}

/// `ampsync check`: it never migrates and writes nothing, so it runs before the
/// migration step and without the run's pool.
async fn run_check(
    database_url: &secrecy::SecretString,
    api: Option<&ApiClient>,
    args: &CheckArgs,
    no_migrate: bool,
    mut shutdown: Shutdown,
) -> Result<ExitCode> {
    let api = api.ok_or_else(|| ConfigError("no API client".into()))?;
    // A DATABASE_URL that cannot be read is a usage error, as for every command.
    crate::db::connect_options(database_url)?;
    let request = check::CheckRequest {
        projects: &args.projects.projects,
        reader_role: &args.reader_role,
        no_migrate,
    };
    let report = shutdown
        .interruptible(check::check(database_url, api, &request))
        .await?;
    print!("{}", report.render(args.format)?);
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::RUN_FAILED)
    })
}

async fn run_import(pool: &PgPool, args: ImportArgs, shutdown: Shutdown) -> Result<ExitCode> {
    let request = ImportRequest {
        files: args.files,
        project: args.project,
        observed_at: args.observed_at,
        project_file: args.project_file,
        integrations_file: args.integrations_file,
        connections_files: args.connections_file,
        provider_apps_files: args.provider_apps_file,
        operations_files: args.operations_file,
        allow_mass_delete: args.allow_mass_delete,
        wait: args.wait,
        max_element: usize::try_from(args.element.max_element_size.as_u64()).unwrap_or(usize::MAX),
    };
    for outcome in import::import(pool, &request, shutdown).await? {
        println!("{}", outcome.summary());
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_export(pool: &PgPool, args: ExportArgs, shutdown: Shutdown) -> Result<ExitCode> {
    let request = ExportRequest {
        project: args.project,
        as_of: args.as_of,
        output: args.output,
    };
    export::export(pool, &request, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_status(pool: &PgPool, args: &StatusArgs, mut shutdown: Shutdown) -> Result<ExitCode> {
    let status = status::status(pool, args.project.as_deref(), args.max_age, args.limit).await?;
    let format = if args.json {
        StatusFormat::Json
    } else {
        args.format
    };
    let text = match format {
        StatusFormat::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
        StatusFormat::Text => status.render(),
        StatusFormat::Openmetrics => metrics::openmetrics(&status),
    };
    match &args.output {
        Some(path) => crate::output::write(path, text.into_bytes(), &mut shutdown).await?,
        None => print!("{text}"),
    }
    // Metrics report problems as values: a collector or a push must get them anyway.
    Ok(
        if status.problems.is_empty() || format == StatusFormat::Openmetrics {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(exit::RUN_FAILED)
        },
    )
}
