//! `ampsync status --format openmetrics`: what `status` knows, as the OpenMetrics text
//! exposition (which Prometheus' text parser reads too: `# EOF` is a comment to it), for
//! node_exporter's textfile collector or a Pushgateway. Every metric is a gauge: the
//! values are read from the run ledger, which `prune` may shorten, so none of them only
//! ever grows.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::commands::status::Status;

/// The outcomes a run can have, so that `ampsync_last_run_status` has a series for each
/// and an alert can match `== 1` on the one it cares about.
const OUTCOMES: [&str; 4] = ["running", "succeeded", "failed", "abandoned"];

/// The exposition of `status`, ending in `# EOF`.
pub fn openmetrics(status: &Status) -> String {
    let mut out = Exposition::default();
    let projects = &status.projects;

    out.family(
        "ampsync_last_success_timestamp_seconds",
        "When the project's last successful run finished, in seconds since 1970.",
    );
    for p in projects {
        if let Some(at) = p.last_success {
            out.sample(&[("project", &p.project)], seconds(at));
        }
    }
    out.family(
        "ampsync_last_run_finished_timestamp_seconds",
        "When the project's latest run finished, in seconds since 1970 (absent while it runs).",
    );
    for p in projects {
        if let Some(at) = p.last_finished {
            out.sample(&[("project", &p.project)], seconds(at));
        }
    }
    out.family(
        "ampsync_last_run_duration_seconds",
        "How long the project's latest run took.",
    );
    for p in projects {
        if let Some(s) = p.last_seconds {
            out.sample(&[("project", &p.project)], s);
        }
    }
    out.family(
        "ampsync_last_run_status",
        "1 for the outcome of the project's latest run, 0 for the others.",
    );
    for p in projects {
        for outcome in OUTCOMES {
            let value = f64::from(u8::from(p.last_status == outcome));
            out.sample(&[("project", &p.project), ("status", outcome)], value);
        }
    }
    out.family(
        "ampsync_last_run_rows",
        "Rows the project's latest run inserted, updated and deleted.",
    );
    for p in projects {
        for (change, n) in [
            ("inserted", p.last_rows_inserted),
            ("updated", p.last_rows_updated),
            ("deleted", p.last_rows_deleted),
        ] {
            out.sample(&[("project", &p.project), ("change", change)], n as f64);
        }
    }
    out.family(
        "ampsync_last_run_rejected_records",
        "Source records the project's latest run could not read.",
    );
    for p in projects {
        out.sample(&[("project", &p.project)], p.last_rejected as f64);
    }
    out.family(
        "ampsync_recorded_runs",
        "Runs the ledger (sync_runs) holds, per project and outcome.",
    );
    for r in &status.runs_by_status {
        out.sample(
            &[("project", &r.project), ("status", &r.status)],
            r.runs as f64,
        );
    }
    out.family(
        "ampsync_rows",
        "Rows of each synced table: live, or soft-deleted (deleted_at set).",
    );
    for c in &status.rows {
        for (state, n) in [("live", c.live), ("deleted", c.deleted)] {
            out.sample(&[("table", &c.table_name), ("state", state)], n as f64);
        }
    }
    out.family(
        "ampsync_problems",
        "What makes `ampsync status` exit 1: failed or stale projects (see --max-age).",
    );
    out.sample(&[], status.problems.len() as f64);
    out.text.push_str("# EOF\n");
    out.text
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// The text being written, one metric family after another.
#[derive(Default)]
struct Exposition {
    text: String,
    /// The family whose samples follow.
    name: &'static str,
}

impl Exposition {
    fn family(&mut self, name: &'static str, help: &str) {
        self.name = name;
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        let _ = writeln!(self.text, "# HELP {name} {}", escape(help));
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(self.name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(label_value(v))))
                .collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }
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
