//! Logs and OpenTelemetry.
//!
//! Logging: JSON lines on stderr when not on a terminal (for log collectors), human text
//! on a terminal. `RUST_LOG` filters; `-v`/`-q` move the default level. Each run logs
//! inside a span naming its project, and ends with one `run summary` event (see
//! `run::lifecycle::log_summary`); `progress` shows long stages.
//!
//! OpenTelemetry is off unless the environment names an OTLP endpoint ([`otlp`]). Then
//! each project's run is a trace: its `sync` or `import` span (through
//! `tracing-opentelemetry`), with one child per [`Phase`]; and at the end of the command
//! the gauges of `status --format openmetrics` ([`Gauge`]) are exported, all flushed by
//! [`Telemetry::shutdown`] within [`FLUSH_BOUND`]. A failed export is a warning.

mod export_client;
mod otlp;
mod phase;

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The target of each run's span (`sync`, `import`: the root of its trace). Its own, so
/// that an exported trace keeps its root whatever `RUST_LOG` or `-q` say.
pub const RUN_TARGET: &str = "ampsync::run_span";

pub use otlp::FLUSH_BOUND;
pub use phase::{Phase, PhaseSpan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// One gauge and its samples, as `status --format openmetrics` prints it and a run
/// exports it over OTLP (the same name, description, labels and values).
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

/// One value of a [`Gauge`], with its labels (OpenTelemetry attributes).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// What [`init`] set up: the log format chosen, and the OpenTelemetry export if the
/// environment asked for one.
pub struct Telemetry {
    /// The log format in use: `--log-format`, else by where stderr goes.
    pub format: LogFormat,
    otlp: Option<otlp::Otlp>,
}

/// Installs the global subscriber, and the OpenTelemetry export when the environment
/// configures one. `verbosity` is -q count subtracted from -v count.
pub fn init(format: Option<LogFormat>, verbosity: i8) -> Telemetry {
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
    let logs = match format {
        LogFormat::Json => fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .log_internal_errors(true)
            .boxed(),
        // Written around the progress bars, which share the terminal.
        LogFormat::Text => fmt::layer()
            .with_writer(crate::progress::LogWriter::make)
            .with_target(false)
            .log_internal_errors(true)
            .boxed(),
    };
    // Read before any log line can be written, reported once the logs are set up.
    let (otlp, problems) = otlp::Otlp::from_env(|name| std::env::var(name).ok());
    let tracer = otlp.as_ref().and_then(otlp::Otlp::tracer);
    if tracer.is_some() {
        if let Ok(runs) = format!("{RUN_TARGET}=info").parse() {
            filter = filter.add_directive(runs);
        }
    }
    // One global filter for logs and trace alike: the trace gets the run's spans, and as
    // their events the lines logged inside them. Not a per-layer filter each: tried, and
    // with two of them a run's span went missing from both the logs and the trace (the
    // per-thread filter state of tokio-rs/tracing#2704 is that family of bug).
    let spans = tracer.map(|tracer| {
        phase::install(tracer.clone());
        tracing_opentelemetry::layer().with_tracer(tracer)
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init();
    for problem in problems {
        tracing::warn!(problem = %problem, "OpenTelemetry settings");
    }
    Telemetry { format, otlp }
}

impl Telemetry {
    /// Whether the gauges of a run are exported (an OTLP metrics endpoint is set).
    pub fn exports_metrics(&self) -> bool {
        self.otlp.as_ref().is_some_and(otlp::Otlp::exports_metrics)
    }

    /// Records the gauges to export at [`Telemetry::shutdown`]; nothing without an
    /// export.
    pub fn record(&self, gauges: &[Gauge]) {
        if let Some(otlp) = &self.otlp {
            otlp.record(gauges);
        }
    }

    /// Sends what is left of the trace and the recorded gauges, waiting at most
    /// [`FLUSH_BOUND`], and warns of every signal whose export failed. The run's exit
    /// code does not depend on it.
    pub fn shutdown(self) {
        let Some(otlp) = self.otlp else {
            return;
        };
        for (signal, reason) in otlp.shutdown() {
            tracing::warn!(
                signal,
                reason = %reason,
                "OpenTelemetry export failed; the run's outcome is not affected"
            );
        }
    }
}
