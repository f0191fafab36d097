//! The metrics: what `status` knows, as gauges ([`METRICS`], one definition each).
//! `ampsync status --format openmetrics` prints them as the OpenMetrics text exposition
//! (which Prometheus' text parser reads too: `# EOF` is a comment to it), for
//! node_exporter's textfile collector or a Pushgateway; a `sync` or `import` exports the
//! same gauges over OTLP when OpenTelemetry is configured (see `telemetry`). Every
//! metric is a gauge: the values are read from the run ledger, which `prune` may
//! shorten, so none of them only ever grows.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::commands::status::{Freshness, Status};
use crate::telemetry::{Gauge, Sample};

/// The outcomes a run can have, so that `ampsync_last_run_status` has a series for each
/// and an alert can match `== 1` on the one it cares about.
const OUTCOMES: [&str; 4] = ["running", "succeeded", "failed", "abandoned"];

/// One metric: what `status --format openmetrics` prints, what a run exports over
/// OTLP, and the README's list of metrics (a test holds the README to this list).
pub struct Metric {
    pub name: &'static str,
    /// The names of its labels (OpenTelemetry attributes), in the order printed.
    pub labels: &'static [&'static str],
    /// Its `# HELP` text and OpenTelemetry description.
    pub help: &'static str,
    samples: fn(&Status) -> Vec<Sample>,
}

/// Every metric, in the order printed. Every one a gauge (see the module's doc).
pub const METRICS: [Metric; 9] = [
    Metric {
        name: "ampsync_last_success_timestamp_seconds",
        labels: &["project"],
        help: "When the project's last successful run finished, in seconds since 1970.",
        samples: |status| per_project(status, |p| p.last_success.map(seconds)),
    },
    Metric {
        name: "ampsync_last_run_finished_timestamp_seconds",
        labels: &["project"],
        help: "When the project's latest run finished, in seconds since 1970 (absent while it runs).",
        samples: |status| per_project(status, |p| p.last_finished.map(seconds)),
    },
    Metric {
        name: "ampsync_last_run_duration_seconds",
        labels: &["project"],
        help: "How long the project's latest run took.",
        samples: |status| per_project(status, |p| p.last_seconds),
    },
    Metric {
        name: "ampsync_last_run_status",
        labels: &["project", "status"],
        help: "1 for the outcome of the project's latest run (running, succeeded, failed or abandoned), 0 for the others.",
        samples: |status| {
            per_project_and(status, "status", |p| {
                OUTCOMES.map(|outcome| (outcome, f64::from(u8::from(p.last_status == outcome))))
            })
        },
    },
    Metric {
        name: "ampsync_last_run_rows",
        labels: &["project", "change"],
        help: "Rows the project's latest run inserted, updated and deleted.",
        samples: |status| {
            per_project_and(status, "change", |p| {
                [
                    ("inserted", p.last_rows_inserted as f64),
                    ("updated", p.last_rows_updated as f64),
                    ("deleted", p.last_rows_deleted as f64),
                ]
            })
        },
    },
    Metric {
        name: "ampsync_last_run_rejected_records",
        labels: &["project"],
        help: "Source records the project's latest run could not read.",
        samples: |status| per_project(status, |p| Some(p.last_rejected as f64)),
    },
    Metric {
        name: "ampsync_recorded_runs",
        labels: &["project", "status"],
        help: "Runs the ledger (sync_runs) holds, per project and outcome.",
        samples: |status| {
            let mut samples = Vec::new();
            for r in &status.runs_by_status {
                let labels = [("project", r.project.as_str()), ("status", &r.status)];
                samples.push(sample(&labels, r.runs as f64));
            }
            samples
        },
    },
    Metric {
        name: "ampsync_rows",
        labels: &["table", "state"],
        help: "Rows of each synced table: live, or soft-deleted (deleted_at set).",
        samples: |status| {
            let mut samples = Vec::new();
            for c in &status.rows {
                for (state, n) in [("live", c.live), ("deleted", c.deleted)] {
                    samples.push(sample(&[("table", &c.table_name), ("state", state)], n as f64));
                }
            }
            samples
        },
    },
    Metric {
        name: "ampsync_problems",
        labels: &[],
        help: "How many problems make `ampsync status` exit 1 (failed or stale projects, see --max-age); 0 when healthy.",
        samples: |status| vec![sample(&[], status.problems.len() as f64)],
    },
];

/// One sample per project that has a `value`, labelled `project`.
fn per_project(status: &Status, value: impl Fn(&Freshness) -> Option<f64>) -> Vec<Sample> {
    let projects = status.projects.iter();
    projects
        .filter_map(|p| value(p).map(|v| sample(&[("project", &p.project)], v)))
        .collect()
}

/// Samples per project labelled `project` and `label`: one for each of `values`.
fn per_project_and<const N: usize>(
    status: &Status,
    label: &'static str,
    values: impl Fn(&Freshness) -> [(&'static str, f64); N],
) -> Vec<Sample> {
    let mut samples = Vec::new();
    for p in &status.projects {
        for (name, value) in values(p) {
            samples.push(sample(&[("project", &p.project), (label, name)], value));
        }
    }
    samples
}

/// What `status` knows, as gauges: [`METRICS`] and their samples.
pub fn gauges(status: &Status) -> Vec<Gauge> {
    METRICS
        .iter()
        .map(|metric| Gauge {
            name: metric.name,
            help: metric.help,
            samples: (metric.samples)(status),
        })
        .collect()
}

/// The exposition of `status`, ending in `# EOF`.
pub fn openmetrics(status: &Status) -> String {
    let mut text = String::new();
    for gauge in gauges(status) {
        let name = gauge.name;
        let _ = writeln!(text, "# TYPE {name} gauge");
        let _ = writeln!(text, "# HELP {name} {}", escape(gauge.help));
        for sample in gauge.samples {
            text.push_str(name);
            if !sample.labels.is_empty() {
                let pairs: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = write!(text, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(text, " {}", sample.value);
        }
    }
    text.push_str("# EOF\n");
    text
}

fn sample(labels: &[(&'static str, &str)], value: f64) -> Sample {
    Sample {
        labels: labels
            .iter()
            .map(|(name, value)| (*name, label_value(value).to_owned()))
            .collect(),
        value,
    }
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// A label value as the ledger holds it, so that ids differing only in a control
/// character (`e\nf`, `e f`) stay two series; `[redacted]` when it holds a secret.
/// (Scrubbing it as printed text is would make such ids one.)
fn label_value(text: &str) -> &str {
    if crate::scrub::holds_secret(text) {
        crate::scrub::REDACTED
    } else {
        text
    }
}

/// A label value or help text as the exposition formats need it: backslash, double
/// quote and newline escaped, which is all the OpenMetrics and Prometheus text formats
/// escape. Other control characters are valid there as they are, and kept.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::status::{RowCount, RunsByStatus};

    /// A status with one of everything.
    fn status() -> Status {
        Status {
            runs: vec![],
            projects: vec![Freshness {
                project: "proj-1".into(),
                last_status: "succeeded".into(),
                last_success: Some(Utc::now()),
                last_finished: Some(Utc::now()),
                last_seconds: Some(1.5),
                last_rows_inserted: 3,
                last_rows_updated: 2,
                last_rows_deleted: 1,
                last_rejected: 0,
            }],
            runs_by_status: vec![RunsByStatus {
                project: "proj-1".into(),
                status: "succeeded".into(),
                runs: 2,
            }],
            rows: vec![RowCount {
                table_name: "installations".into(),
                live: 30,
                deleted: 0,
            }],
            operation_failures: vec![],
            operation_failures_total: 0,
            problems: vec![],
        }
    }

    #[test]
    fn every_sample_has_its_metrics_labels_in_order() {
        for (metric, gauge) in METRICS.iter().zip(gauges(&status())) {
            assert!(!gauge.samples.is_empty(), "{}", metric.name);
            for sample in &gauge.samples {
                let names: Vec<&str> = sample.labels.iter().map(|(n, _)| *n).collect();
                assert_eq!(names, metric.labels, "{}", metric.name);
            }
        }
    }

    /// The README's list of metrics is this module's: one table row per metric, in
    /// the same order, with the same labels and meaning.
    #[test]
    fn the_readme_lists_exactly_these_metrics() {
        let readme = include_str!("../../README.md");
        let listed: Vec<&str> = readme
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("| `ampsync_"))
            .collect();
        let expected: Vec<String> = METRICS
            .iter()
            .map(|m| {
                let labels: Vec<String> = m.labels.iter().map(|l| format!("`{l}`")).collect();
                let labels = if labels.is_empty() {
                    "—".to_owned()
                } else {
                    labels.join(", ")
                };
                format!("| `{}` | gauge | {labels} | {} |", m.name, m.help)
            })
            .collect();
        assert_eq!(
            listed,
            expected,
            "README.md's table of metrics should read:\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn ids_that_differ_only_in_a_control_character_are_distinct_labels() {
        let labels: Vec<String> = ["e\nf", "e f", "e\tf", "e\\nf"]
            .iter()
            .map(|id| escape(label_value(id)))
            .collect();
        assert_eq!(labels, ["e\\nf", "e f", "e\tf", "e\\\\nf"]);
        assert_eq!(label_value("proj Bearer abc"), crate::scrub::REDACTED);
    }
}
