//! Logging: JSON lines on stderr when not on a terminal (for log collectors), human text
//! on a terminal. `RUST_LOG` filters; `-v`/`-q` move the default level. Each run logs
//! inside a span naming its project, and ends with one `run summary` event (see
//! `run::lifecycle::log_summary`); `progress` shows long stages.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `verbosity` is -q count subtracted from -v count.
/// Returns the format chosen.
pub fn init(format: Option<LogFormat>, verbosity: i8) -> LogFormat {
    let default = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("ampsync={default},warn")));
    // sqlx's warning about a pgpass line it cannot read quotes the line, password and
    // all, whatever the level asked for; `pgpass` gives the same warning without it.
    if let Ok(quiet) = "sqlx_postgres::options::pgpass=off".parse() {
        filter = filter.add_directive(quiet);
    }
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let builder = fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        // Written around the progress bars, which share the terminal.
        LogFormat::Text => builder
            .with_writer(crate::progress::LogWriter::make)
            .with_target(false)
            .try_init(),
    };
    format
}
