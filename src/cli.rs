//! The command line is the configuration: every setting is a flag with an environment
//! variable behind it (flag > env > default), and each `///` below is its `--help`.
//! Only the clap types live here; `commands` runs them.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::telemetry::LogFormat;

/// Keeps a PostgreSQL copy of an Ampersand project's installations, with their
/// connections, groups, consumers, provider apps and configs, and the full history of
/// every change, in schema `ampersand`.
#[derive(Debug, Parser)]
#[command(
    name = "ampsync",
    version,
    after_help = "Example:\n  AMPERSAND_API_KEY=... ampsync sync --project my-project"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Target Postgres. `sslmode=require` (or `verify-full`) in the URL turns TLS on.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        default_value = "postgres://postgres:postgres@localhost:5432/postgres",
        value_parser = secret
    )]
    pub database_url: SecretString,

    /// Do not apply pending migrations first.
    #[arg(long, global = true)]
    pub no_migrate: bool,

    /// Log format on stderr: `text` (default on a terminal) or `json` (default otherwise).
    #[arg(long, env = "AMPSYNC_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// More log detail (-v debug, -vv trace). RUST_LOG, when set, wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// When stderr is not a terminal, log a `progress` line this often during long
    /// fetches, reads and applies (on a terminal a progress bar shows instead).
    #[arg(long, env = "AMPSYNC_PROGRESS_INTERVAL", global = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub progress_interval: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the embedded database migrations (idempotent).
    #[command(
        after_help = "Example:\n  DATABASE_URL=postgres://user:pass@db:5432/analytics?sslmode=require ampsync migrate"
    )]
    Migrate,

    /// Fetch each project from the Ampersand API and apply it as one snapshot.
    ///
    /// A response more than half of whose installations carry another project's
    /// `projectId`, or none of whose installations can be read, fails that project's run
    /// (exit 1, recorded) and applies nothing.
    #[command(
        after_help = "Examples:\n  AMPERSAND_API_KEY_FILE=/run/secrets/ampersand ampsync sync --project acme\n  ampsync sync --project acme --group-ref grp-initech --dry-run"
    )]
    Sync(SyncArgs),

    /// Apply saved `List installations` responses as snapshots, oldest first.
    #[command(
        after_help = "Example:\n  ampsync import day1.json day2.json --project proj-7c1e2a90 \\\n      --observed-at 2026-11-01T00:00:00Z --observed-at 2026-11-08T00:00:00Z"
    )]
    Import(ImportArgs),

    /// Show the latest runs, row counts and freshness; non-zero exit when unhealthy.
    #[command(
        after_help = "Examples (a monitoring probe; metrics for node_exporter's textfile collector):\n  ampsync status --project acme --max-age 2h --json\n  ampsync status --max-age 2h --format openmetrics --output /var/lib/node_exporter/textfile/ampsync.prom"
    )]
    Status(StatusArgs),

    /// Delete old runs and rejected records, and with --history old history versions.
    #[command(
        after_help = "Examples:\n  ampsync prune --older-than 90d --dry-run\n  ampsync prune --older-than 365d --history --project proj-7c1e2a90"
    )]
    Prune(PruneArgs),

    /// Check every prerequisite of a sync, writing nothing: the API and the key, Postgres,
    /// the migrations, the role's privileges, TMPDIR and each project's lock.
    ///
    /// One line per check; exit 0 when every check passed (warnings included), 1 when one
    /// failed, 2 for a usage or configuration error. Takes the settings `sync` takes;
    /// with --no-migrate, pending migrations fail (the job would run without them).
    #[command(
        after_help = "Examples (a pre-flight step, with the job's own settings):\n  AMPERSAND_API_KEY_FILE=/run/secrets/ampersand ampsync check --project acme\n  ampsync check --project acme --format json"
    )]
    Check(CheckArgs),

    /// Write a project's `List installations` response (a JSON array) as the tables
    /// hold it now, or held it at `--as-of`, without secrets: the inverse of `import`.
    /// Only reads, so it never migrates and works as `ampersand_reader`. Operations and
    /// their logs are left out: the response has no place for them.
    #[command(
        after_help = "Examples:\n  ampsync export --project proj-7c1e2a90 > now.json\n  ampsync export --project proj-7c1e2a90 --as-of 2026-11-01T00:00:00Z --output 2026-11-01.json"
    )]
    Export(ExportArgs),

    /// Print a shell's completion script to standard output. Needs no database.
    #[command(
        after_help = "Examples (README, Shell completions, says where each shell looks):\n  ampsync completions bash > ~/.local/share/bash-completion/completions/ampsync\n  ampsync completions zsh > ~/.zfunc/_ampsync\n  ampsync completions fish > ~/.config/fish/completions/ampsync.fish"
    )]
    Completions(CompletionsArgs),

    /// Write the manual pages: ampsync(1) to standard output, or every page into --dir.
    ///
    /// With --dir: ampsync.1 and one page per command (ampsync-sync.1, ...), as the image
    /// build installs them in /usr/share/man/man1. Needs no database.
    #[command(
        after_help = "Examples:\n  ampsync man | man -l -\n  ampsync man --dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page into this directory (created if missing, pages replaced)
    /// instead of ampsync.1 to standard output.
    #[arg(long, value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

/// The projects a sync fetches (and `check` checks), from the API.
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// Project id or name; repeat for several. The env var takes a comma-separated list.
    #[arg(
        long = "project",
        env = "AMPERSAND_PROJECT",
        value_delimiter = ',',
        required = true
    )]
    pub projects: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub projects: ProjectArgs,

    /// Sync only this group's installations and connections; deletions stay within the
    /// group.
    #[arg(long)]
    pub group_ref: Option<String>,

    /// Print what would change (inserted/updated/deleted per table) and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply a snapshot that deletes more than half of a project's live installations,
    /// or of the connections, groups, consumers or provider apps only the lists show.
    #[arg(long)]
    pub allow_mass_delete: bool,

    /// Wait for another run of the same project to finish instead of exiting with 75.
    #[arg(long)]
    pub wait: bool,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub operations: OperationArgs,
}

/// How a sync reads operations, after its snapshot (see `operations`).
#[derive(Debug, Clone, Args)]
pub struct OperationArgs {
    /// Which installations' operations to read: `changed` (those whose health or last
    /// operation status changed, with operations in progress or never read, then the
    /// longest-unread, within --max-operation-requests), `all` (every installation, every
    /// run) or `off`.
    #[arg(
        long,
        env = "AMPSYNC_OPERATIONS",
        value_enum,
        default_value = "changed"
    )]
    pub operations: crate::operations::Mode,

    /// Requests a run may send for operations and their logs [default: 2000; none
    /// with --operations all]. Every installation is still read within ceil(4 × live
    /// installations / N) runs.
    #[arg(long, env = "AMPSYNC_MAX_OPERATION_REQUESTS")]
    pub max_operation_requests: Option<u64>,

    /// Operation requests in flight at once.
    #[arg(long, env = "AMPSYNC_OPERATION_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub operation_concurrency: u16,

    /// Whose logs to read: `failed` operations', `all` finished ones', or `off`. Logs
    /// older than the project's log retention are not asked for.
    #[arg(
        long,
        env = "AMPSYNC_OPERATION_LOGS",
        value_enum,
        default_value = "failed"
    )]
    pub operation_logs: crate::operations::Logs,

    /// Keep each write's successfulRecordIds (otherwise only their count).
    #[arg(long, env = "AMPSYNC_OPERATION_RECORD_IDS")]
    pub operation_record_ids: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the Ampersand API (plain http only for loopback hosts).
    #[arg(
        long,
        env = "AMPERSAND_API_URL",
        default_value = "https://api.withampersand.com/v1"
    )]
    pub api_url: String,

    /// Give up connecting to the API after this long.
    #[arg(long, env = "AMPSYNC_CONNECT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// Fail a response that sends nothing for this long.
    #[arg(long, env = "AMPSYNC_STALL_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub stall_timeout: Duration,

    /// Fail a request, body included, that takes longer than this.
    #[arg(long, env = "AMPSYNC_REQUEST_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Attempts per request, the first included (429, 5xx and connection errors are retried).
    #[arg(long, env = "AMPSYNC_RETRY_ATTEMPTS", default_value_t = 5)]
    pub retry_attempts: u32,

    /// No retry starts after this much time has passed since a request's first attempt.
    #[arg(long, env = "AMPSYNC_RETRY_BUDGET", default_value = "5m", value_parser = humantime::parse_duration)]
    pub retry_budget: Duration,

    /// The first retry's backoff ceiling; each later one doubles (with full jitter), up to 30s.
    #[arg(long, env = "AMPSYNC_RETRY_BASE_DELAY", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub retry_base_delay: Duration,
    /// The largest project or integrations response read, decoded (a response past it
    /// fails the run: a misbehaving server, or a gzip bomb).
    #[arg(long, env = "AMPSYNC_MAX_BODY_SIZE", default_value = "64MiB")]
    pub max_body_size: ByteSize,
    #[command(flatten)]
    pub element: ElementLimit,
}

/// The cap on one installation, for `sync` and `import` alike.
#[derive(Debug, Clone, Args)]
pub struct ElementLimit {
    /// The largest single installation accepted, as JSON text (the installations
    /// response itself is streamed and has no cap); a larger one fails the run.
    #[arg(long, env = "AMPSYNC_MAX_ELEMENT_SIZE", default_value = "32MiB")]
    pub max_element_size: ByteSize,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Saved `List installations` responses (JSON arrays); `-` reads standard input.
    /// Pipes and FIFOs work too (`<(zcat day1.json.gz)`); a leading UTF-8 BOM is skipped.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// The project the files belong to: its id, or a name an earlier sync stored.
    ///
    /// A file more than half of whose installations carry another `projectId` (none of
    /// this project's, say) is refused with exit 2 and writes nothing; the message names
    /// the project ids the file holds. A few strays are rejected and the rest imported.
    #[arg(long, env = "AMPERSAND_PROJECT")]
    pub project: String,

    /// When each file was observed (RFC 3339), once per file in order; default: each
    /// file's modification time.
    #[arg(long, value_parser = parse_time)]
    pub observed_at: Vec<DateTime<Utc>>,

    /// A saved `GET /projects/{p}` response to apply with every snapshot.
    #[arg(long)]
    pub project_file: Option<PathBuf>,

    /// A saved `GET /projects/{p}/integrations` response to apply with every snapshot.
    #[arg(long)]
    pub integrations_file: Option<PathBuf>,

    /// Saved `GET /projects/{p}/connections` responses: one for every snapshot, or one
    /// per file in the order of the files. Without it only rows that live installations
    /// reach are deleted from connections, groups and consumers.
    #[arg(long)]
    pub connections_file: Vec<PathBuf>,

    /// Saved `GET /projects/{p}/provider-apps` responses: one for every snapshot, or one
    /// per file in the order of the files. Without it only provider apps that live
    /// installations reach are deleted.
    #[arg(long)]
    pub provider_apps_file: Vec<PathBuf>,

    /// Saved operations responses (`GET .../installations/{id}/operations`: a list
    /// response, an array of them, or an array of operations): one for every snapshot,
    /// or one per file in the order of the files. Written after the file's snapshot, with
    /// history; no operation is ever deleted.
    #[arg(long)]
    pub operations_file: Vec<PathBuf>,

    /// Apply a snapshot that deletes more than half of a project's live installations,
    /// or of the connections, groups, consumers or provider apps only the lists show.
    #[arg(long)]
    pub allow_mass_delete: bool,

    /// Wait for another run of the same project to finish instead of exiting with 75.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub element: ElementLimit,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub projects: ProjectArgs,

    /// What to print: `text` (one line per check) or `json` (`{"ok", "checks": [...]}`,
    /// see the README).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,

    /// The read-only role whose existence and rights are checked (sql/roles.sql makes it).
    #[arg(long, default_value = "ampersand_reader")]
    pub reader_role: String,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The project: its id, or a name an earlier sync stored.
    #[arg(long, env = "AMPERSAND_PROJECT")]
    pub project: String,

    /// Export the state at this time (RFC 3339, like 2026-11-01T00:00:00Z), from
    /// history; default: the current state.
    #[arg(long, value_parser = parse_time)]
    pub as_of: Option<DateTime<Utc>>,

    /// Write the JSON to this file (replaced only once complete; a new file gets 0666
    /// less the umask) instead of standard output. A device, FIFO or symlink is written
    /// to, never replaced.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this project (its id).
    #[arg(long)]
    pub project: Option<String>,

    /// Exit 1 when a project's last successful run finished longer ago than this (e.g. 2h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_age: Option<Duration>,

    /// What to print: `text` (tables for people), `json`, or `openmetrics` (the
    /// Prometheus text exposition, for node_exporter's textfile collector or a
    /// Pushgateway). `text` and `json` exit 1 when unhealthy; `openmetrics` exits 0
    /// once written, since its metrics carry the problems (`ampsync_problems`).
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,

    /// Write to this file instead of stdout, atomically (a temporary file beside it,
    /// renamed over it), as the textfile collector needs. A new file gets 0666 less the
    /// umask (0644 under umask 022: node_exporter can read it); a replaced file keeps its
    /// mode. A device, FIFO or symlink is written to, never replaced.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,

    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// How many recent runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete runs that started longer ago than this (e.g. 90d), with their rejected
    /// records. Each project keeps its latest succeeded and latest failed run whatever
    /// their age, and runs still going.
    #[arg(long, value_parser = positive_duration)]
    pub older_than: Duration,

    /// Also delete history versions that ended before the cutoff (valid_to earlier than
    /// it); a current version never goes. Afterwards an as-of query for a time before
    /// the cutoff sees only the versions still valid at the cutoff: objects that changed
    /// or went away before it are missing or show a later state. As-of queries at or
    /// after the cutoff, current tables and change_log from the cutoff on are
    /// unaffected.
    #[arg(long)]
    pub history: bool,

    /// Count what would go, in a transaction that is rolled back; delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Only this project (its id); repeat for several. Default: every project the run
    /// ledger knows.
    #[arg(long = "project")]
    pub projects: Vec<String>,
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d > Duration::ZERO => Ok(d),
        Ok(_) => Err("must be longer than zero".into()),
        Err(e) => Err(format!("`{text}` is not a duration (like 90d or 12h): {e}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Openmetrics,
}

/// A value that must not show in `Debug` output (the database URL holds a password).
fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_owned()))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time (like 2026-11-01T00:00:00Z): {e}"))
}
