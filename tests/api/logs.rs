//! Logs for the person who runs the job: one `run summary` event per run, in the
//! project's span, and `progress` lines during long work when stderr is not a terminal.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::fixtures::{installation, installations, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, API_KEY};

#[tokio::test]
async fn a_sync_logs_one_run_summary_with_counts_and_durations_in_the_projects_span() {
    // Arrange: a first sync, then one where 4 installations are gone.
    let app = spawn_app_with(installations(0..20)).await;
    app.sync().await;
    app.api.set_installations(installations(4..20));

    // Act
    let run = app.sync().await;

    // Assert
    let summaries: Vec<Value> = run
        .log_lines()
        .into_iter()
        .filter(|l| l["message"] == "run summary")
        .collect();
    assert_eq!(summaries.len(), 1, "{}", run.stderr());
    let summary = &summaries[0];
    assert_eq!(summary["span"]["project"], PROJECT_ID);
    assert_eq!(summary["command"], "sync");
    assert_eq!(summary["run"], 2);
    assert_eq!(summary["dry_run"], false);
    assert_eq!(summary["installations_deleted"], 4);
    assert_eq!(summary["installations_inserted"], 0);
    assert_eq!(summary["rejected"], 0);
    assert!(summary["deletions_skipped"].is_null());
    assert!(summary["fetch_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    assert!(summary["apply_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    let counts: Value = serde_json::from_str(summary["counts"].as_str().unwrap()).unwrap();
    assert_eq!(counts["installations"]["deleted"], 4);
    assert_eq!(
        summary["deleted"],
        app.count("SELECT rows_deleted FROM ampersand.sync_runs WHERE id = 2")
            .await
    );
}

#[tokio::test]
async fn a_dry_run_logs_its_summary_without_a_run_id() {
    // Arrange
    let app = spawn_app_with(installations(0..3)).await;

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--dry-run"])
        .await
        .success();

    // Assert
    let summary = run
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "run summary")
        .expect("a run summary");
    assert_eq!(summary["dry_run"], true);
    assert!(summary.get("run").is_none(), "{summary}");
    assert_eq!(summary["installations_inserted"], 3);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn a_run_with_rejected_records_says_so_in_its_summary() {
    // Arrange: installation 0 is gone, but a record cannot be read, so nothing is deleted.
    let app = spawn_app_with(installations(0..5)).await;
    app.sync().await;
    let mut payload = installations(1..5);
    payload
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"healthStatus": "healthy"}));
    app.api.set_installations(payload);

    // Act
    let run = app.sync().await;

    // Assert
    let summary = run
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "run summary")
        .unwrap();
    assert_eq!(summary["rejected"], 1);
    assert_eq!(summary["installations_deleted"], 0);
    assert!(summary["deletions_skipped"].is_string(), "{summary}");
}

#[tokio::test]
async fn a_long_read_logs_progress_lines_when_stderr_is_not_a_terminal() {
    // Arrange: an import from standard input that stalls half-way, with a short
    // progress interval; it gets the rest only after a progress line has appeared.
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ampsync"))
        .args(["import", "-", "--project", PROJECT_ID])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database_url)
        .env("AMPERSAND_API_KEY", API_KEY)
        .env("AMPSYNC_PROGRESS_INTERVAL", "50ms")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let first = format!("[{},", installation(0));
    stdin.write_all(first.as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();

    // Act: wait for a progress line (the timeout only keeps a broken build from hanging).
    let progress = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let line: Value = serde_json::from_str(&line).expect("JSON log lines");
            // Once the first part is read whole (a pipe may hand it over in pieces).
            if line["message"] == "progress" && line["bytes"].as_u64() == Some(first.len() as u64) {
                return line;
            }
        }
        panic!("stderr closed without a progress line");
    })
    .await
    .expect("a progress line within a minute");
    stdin
        .write_all(format!("{}]", installation(1)).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let mut rest = Vec::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push(line);
    }
    let status = child.wait().await.unwrap();

    // Assert
    assert!(status.success(), "{rest:?}");
    assert_eq!(progress["stage"], "reading");
    assert_eq!(progress["span"]["project"], PROJECT_ID);
    assert!(rest.iter().any(|l| l.contains("\"run summary\"")));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        2
    );
}
