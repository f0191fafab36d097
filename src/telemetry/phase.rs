//! The phases of a run, as spans of its trace: children of the run's `sync` or
//! `import` span, which `tracing-opentelemetry` exports.
//!
//! They are OpenTelemetry spans, not `tracing` ones, so that the logs stay as they are:
//! a `tracing` span per phase would become the current span of every log line inside
//! it, and the JSON logs would lose `span.project`. Without a trace export they cost
//! nothing: [`Phase::start`] returns an empty guard.

use std::sync::OnceLock;

use opentelemetry::trace::{Span as _, Status, Tracer as _};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The tracer of the exported trace, set once by `telemetry::init`.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(super) fn install(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

/// A phase of a run, in the order a run goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `sync`: the API's answers (integrations, installations, the lists), each read
    /// into the snapshot as it streams in.
    Fetch,
    /// `import`: the saved files, read into the snapshot.
    Read,
    /// Comparing the snapshot with what is stored (`apply::plan`).
    Plan,
    /// Writing the rows and their history versions (`apply::execute`).
    Write,
    /// The run's ledger rows (outcome, fingerprint, rejected records) and the commit.
    Record,
    /// After the snapshot: the installations' operations (`operations`).
    Operations,
}

impl Phase {
    /// The span's name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Fetch => "fetch",
            Phase::Read => "read",
            Phase::Plan => "plan",
            Phase::Write => "write",
            Phase::Record => "record",
            Phase::Operations => "operations",
        }
    }

    /// Starts the phase's span, a child of the current `tracing` span (the run's).
    /// End it with [`PhaseSpan::end`]; dropped without that, it ends as failed.
    pub fn start(self) -> PhaseSpan {
        PhaseSpan(TRACER.get().map(|tracer| {
            let parent = tracing::Span::current().context();
            tracer.start_with_context(self.name(), &parent)
        }))
    }
}

/// The span of a phase under way (empty when no trace is exported).
pub struct PhaseSpan(Option<Span>);

impl PhaseSpan {
    /// Ends the phase as done.
    pub fn end(mut self) {
        if let Some(mut span) = self.0.take() {
            span.end();
        }
    }
}

impl Drop for PhaseSpan {
    /// A phase that did not reach [`PhaseSpan::end`] stopped on an error or a signal
    /// (its future dropped): its span ends with an error status.
    fn drop(&mut self) {
        if let Some(mut span) = self.0.take() {
            span.set_status(Status::error("the phase did not finish"));
            span.end();
        }
    }
}
