//! `ampsync status`: the runs table, row counts, freshness, `--max-age`, `--json`, and
//! its exit code as a monitoring probe.

use serde_json::Value;

use crate::helpers::{run_python, spawn_app};
use crate::sql_files::import_samples;

#[tokio::test]
async fn status_shows_the_latest_runs_with_counts_and_the_row_counts_and_exits_0() {
    // Arrange
    let app = spawn_app().await;
    import_samples(&app).await;

    // Act
    let run = app.ampsync(&["status"]).await;

    // Assert
    let out = run.stdout();
    assert_eq!(run.code(), 0, "{out}\n{}", run.stderr());
    let header = out.lines().next().unwrap();
    for column in [
        "RUN", "STATUS", "STARTED", "SECONDS", "+INS", "~UPD", "-DEL", "REJ", "NOTE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let runs: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(runs.len(), 2, "{out}");
    // run 2: id, command, project, status, started (2 words), observed (2), seconds, counts, rejected
    assert_eq!(runs[0][..4], ["2", "import", "proj-7c1e2a90", "succeeded"]);
    assert_eq!(runs[0][6..8], ["2026-11-08", "00:00:00"]);
    // The counts include the operations files' rows (183 new, 2 finished; 180).
    assert_eq!(runs[0][9..13], ["197", "46", "9", "0"]);
    assert_eq!(runs[1][9..13], ["401", "0", "0", "0"]);
    let table = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
    };
    assert_eq!(table("installations"), Some(vec!["61", "3"]));
    assert_eq!(table("connections"), Some(vec!["58", "3"]));
    assert_eq!(table("proj-7c1e2a90").unwrap()[0], "succeeded");
    assert_eq!(out.lines().last(), Some("OK"));
}

#[tokio::test]
async fn status_max_age_exits_1_when_the_last_successful_run_is_older() {
    // Arrange: the runs finished three hours ago.
    let app = spawn_app().await;
    import_samples(&app).await;
    sqlx::query(
        "UPDATE ampersand.sync_runs SET started_at = started_at - interval '3 hours',
                                        finished_at = finished_at - interval '3 hours'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Act
    let stale = app.ampsync(&["status", "--max-age", "2h"]).await;
    let fresh_enough = app.ampsync(&["status", "--max-age", "4h"]).await;
    let unchecked = app.ampsync(&["status"]).await;
    let other_project = app
        .ampsync(&["status", "--project", "proj-unknown", "--max-age", "4h"])
        .await;

    // Assert
    assert_eq!(stale.code(), 1, "{}", stale.stdout());
    assert!(
        stale
            .stdout()
            .contains("PROBLEM: project proj-7c1e2a90: the last successful run finished 3h"),
        "{}",
        stale.stdout()
    );
    assert!(
        stale.stdout().contains("more than 2h"),
        "{}",
        stale.stdout()
    );
    assert_eq!(fresh_enough.code(), 0, "{}", fresh_enough.stdout());
    assert_eq!(unchecked.code(), 0, "{}", unchecked.stdout());
    assert_eq!(other_project.code(), 1);
    assert!(other_project
        .stdout()
        .contains("no runs recorded for project proj-unknown"));
}

#[tokio::test]
async fn status_json_gives_runs_freshness_row_counts_and_problems_to_machines() {
    // Arrange
    let app = spawn_app().await;
    import_samples(&app).await;

    // Act
    let healthy = app.ampsync(&["status", "--json"]).await;
    let stale = app.ampsync(&["status", "--json", "--max-age", "1ms"]).await;

    // Assert
    assert_eq!(healthy.code(), 0);
    let status: Value = serde_json::from_str(&healthy.stdout()).expect("stdout is JSON");
    let runs = status["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["id"], 2);
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["rows_inserted"], 197);
    assert_eq!(runs[0]["rows_deleted"], 9);
    assert_eq!(runs[0]["rejected"], 0);
    assert_eq!(runs[0]["observed_at"], "2026-11-08T00:00:00Z");
    assert!(runs[0]["seconds"].as_f64().is_some());
    assert_eq!(status["projects"][0]["project"], "proj-7c1e2a90");
    assert!(status["projects"][0]["last_success"].is_string());
    let installations = status["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["table_name"] == "installations")
        .unwrap();
    assert_eq!(
        (
            installations["live"].clone(),
            installations["deleted"].clone()
        ),
        (61.into(), 3.into())
    );
    assert_eq!(status["problems"], serde_json::json!([]));
    assert_eq!(stale.code(), 1);
    let stale: Value = serde_json::from_str(&stale.stdout()).unwrap();
    assert_eq!(stale["problems"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn status_shows_failed_runs_rejected_records_and_skipped_deletions_and_exits_1() {
    // Arrange: a good snapshot, one with a record that cannot be read (so deletions are
    // skipped), then a file that is not JSON (the run fails).
    let app = spawn_app().await;
    import_samples(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let with_rejected = dir.path().join("rejected.json");
    let mut installations: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples/installations-2026-11-01.json"),
        )
        .unwrap(),
    )
    .unwrap();
    installations.push(serde_json::json!({"healthStatus": "healthy"}));
    std::fs::write(&with_rejected, serde_json::to_vec(&installations).unwrap()).unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"id\": \"x\"").unwrap();
    let import = async |file: &std::path::Path, at: &str| {
        let file = file.display().to_string();
        app.ampsync(&[
            "import",
            &file,
            "--project",
            "proj-7c1e2a90",
            "--observed-at",
            at,
        ])
        .await
    };
    import(&with_rejected, "2026-11-15T00:00:00Z")
        .await
        .success();
    assert_eq!(import(&broken, "2026-11-22T00:00:00Z").await.code(), 1);

    // Act
    let table = app.ampsync(&["status"]).await;
    let json = app.ampsync(&["status", "--json"]).await;

    // Assert
    assert_eq!(table.code(), 1);
    let out = table.stdout();
    let line = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no run {id} in\n{out}"))
    };
    assert!(line("4").contains("failed"), "{out}");
    assert!(line("4").contains("broken.json"), "{out}");
    assert!(line("3").contains("succeeded"), "{out}");
    assert!(line("3").contains("deletions skipped"), "{out}");
    assert_eq!(line("3").split_whitespace().nth(12), Some("1"), "{out}");
    assert!(
        out.contains("PROBLEM: project proj-7c1e2a90: the latest run failed"),
        "{out}"
    );
    let json: Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(json["runs"][0]["status"], "failed");
    assert_eq!(json["runs"][1]["rejected"], 1);
    assert!(json["runs"][1]["deletions_skipped_reason"].is_string());
}

/// The samples of an OpenMetrics exposition, as prometheus_client's parsers read it
/// (`tests/parse_metrics.py`, run with the Python that `scripts/test` prepares).
pub fn parse_metrics(exposition: &str) -> Vec<(String, Value, f64)> {
    let out = run_python("parse_metrics.py", exposition.as_bytes());
    assert!(
        out.status.success(),
        "the parsers refused the exposition: {}\n{exposition}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn status_openmetrics_parses_with_the_reference_parsers_and_holds_what_status_knows() {
    // Arrange: two runs of the samples, then one that fails on a truncated file.
    let app = spawn_app().await;
    import_samples(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, r#"[{"id": "inst-1", "#).unwrap();
    let failed = app
        .ampsync(&[
            "import",
            truncated.to_str().unwrap(),
            "--project",
            "proj-7c1e2a90",
        ])
        .await;
    assert_eq!(failed.code(), 1, "{}", failed.stderr());

    // Act
    let run = app.ampsync(&["status", "--format", "openmetrics"]).await;

    // Assert
    let samples = parse_metrics(&run.stdout());
    let value = |name: &str, labels: Value| {
        let found: Vec<f64> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == name && labels.as_object().unwrap().iter().all(|(k, v)| &l[k] == v)
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name} {labels}: {found:?}\n{}",
            run.stdout()
        );
        found[0]
    };
    let project = "proj-7c1e2a90";
    for (outcome, expected) in [("succeeded", 0.0), ("failed", 1.0), ("running", 0.0)] {
        assert_eq!(
            value(
                "ampsync_last_run_status",
                serde_json::json!({"project": project, "status": outcome})
            ),
            expected,
            "{outcome}"
        );
    }
    assert_eq!(
        value(
            "ampsync_recorded_runs",
            serde_json::json!({"project": project, "status": "succeeded"})
        ),
        2.0
    );
    assert_eq!(
        value(
            "ampsync_rows",
            serde_json::json!({"table": "installations", "state": "live"})
        ),
        61.0
    );
    assert_eq!(
        value(
            "ampsync_rows",
            serde_json::json!({"table": "installations", "state": "deleted"})
        ),
        3.0
    );
    let last_success: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(finished_at))::float8 FROM ampersand.sync_runs WHERE status = 'succeeded'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        (value(
            "ampsync_last_success_timestamp_seconds",
            serde_json::json!({"project": project})
        ) - last_success)
            .abs()
            < 1e-3
    );
    // The failed run is a problem, which the metrics carry: the command succeeds, so a
    // collector or a push gets them.
    assert_eq!(value("ampsync_problems", serde_json::json!({})), 1.0);
    assert_eq!(run.code(), 0);

    // --output writes the same exposition to a file, whole.
    let file = dir.path().join("ampsync.prom");
    app.ampsync(&[
        "status",
        "--format",
        "openmetrics",
        "--output",
        file.to_str().unwrap(),
    ])
    .await
    .success();
    let written = parse_metrics(&std::fs::read_to_string(&file).unwrap());
    let names = |s: &[(String, Value, f64)]| {
        s.iter()
            .map(|(n, l, _)| (n.clone(), l.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&written), names(&samples));
}

#[tokio::test]
async fn project_ids_that_differ_only_in_a_control_character_stay_distinct_series_that_parse() {
    // Arrange: a run of each project; the ids differ in a newline or a space, and one
    // holds a quote, a backslash and a tab.
    let app = spawn_app().await;
    let ids = ["e\nf", "e f", "q\"u\\o\tte"];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, "[]").unwrap();
    for id in ids {
        app.ampsync(&["import", file.to_str().unwrap(), "--project", id])
            .await
            .success();
    }

    // Act
    let run = app.ampsync(&["status", "--format", "openmetrics"]).await;

    // Assert: the reference parsers read it, with one series per project, as named.
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let samples = parse_metrics(&run.stdout());
    let mut projects: Vec<String> = samples
        .iter()
        .filter(|(name, _, _)| name == "ampsync_last_run_rejected_records")
        .map(|(_, labels, _)| labels["project"].as_str().unwrap().to_owned())
        .collect();
    projects.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    expected.sort();
    assert_eq!(projects, expected, "{}", run.stdout());
    let statuses = samples
        .iter()
        .filter(|(name, labels, value)| {
            name == "ampsync_last_run_status" && labels["status"] == "succeeded" && *value == 1.0
        })
        .count();
    assert_eq!(statuses, 3);
}
