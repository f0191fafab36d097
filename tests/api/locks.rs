//! Runs that collide on a project's lock: a second run exits 75 naming the holder, or
//! with `--wait` waits for it and then applies; runs of different projects do not
//! block each other; a run waiting for the lock stops promptly on SIGTERM.

use serde_json::Value;

use crate::fixtures::{installations, PROJECT_ID};
use crate::helpers::{
    eventually, exited_within, signal, spawn_app, start_held_sync, sync_args, waiting_on_lock,
    FakeApi, Gate, EXIT_PROMPTLY, FINISHES,
};

#[tokio::test]
async fn two_runs_of_one_project_at_once_one_proceeds_and_the_other_exits_75_naming_the_holder() {
    // Arrange
    let app = spawn_app().await;
    let gate = Gate::new();
    let first = start_held_sync(&app, &gate).await;
    let first_pid = first.id().unwrap();

    // Act
    let second = app.ampsync(&sync_args()).await;
    gate.open();
    let first = exited_within(first, FINISHES).await.success();

    // Assert
    assert_eq!(second.code(), 75, "{}", second.stderr());
    let host = hostname::get().unwrap().to_string_lossy().into_owned();
    let holder = "sync run 1 started at";
    let err = second.stderr();
    assert!(
        err.contains(&format!(
            "another run holds the lock of project {PROJECT_ID}"
        )),
        "{err}"
    );
    assert!(err.contains(holder), "{err}");
    assert!(
        err.contains(&format!("on {host} (pid {first_pid})")),
        "{err}"
    );
    assert!(first.stdout().contains("installations +30"));
    let runs = app.runs().await;
    assert_eq!(runs.len(), 1, "the refused run recorded nothing: {runs:?}");
    assert_eq!(runs[0].2, "succeeded");
}

#[tokio::test]
async fn with_wait_a_second_run_waits_for_the_lock_and_then_applies() {
    // Arrange
    let app = spawn_app().await;
    let gate = Gate::new();
    let first = start_held_sync(&app, &gate).await;

    // Act: the second run blocks on the project's lock until the first finishes.
    let second = app.spawn(&["sync", "--project", PROJECT_ID, "--wait"], &[]);
    let probe = app.probe();
    eventually("the second run waits on the lock", move || {
        let probe = probe.clone();
        async move { waiting_on_lock(&probe).await }
    })
    .await;
    gate.open();
    exited_within(first, FINISHES).await.success();
    let second = exited_within(second, FINISHES).await.success();

    // Assert: both succeeded, one after the other.
    assert!(
        second.stdout().contains("no changes"),
        "{}",
        second.stdout()
    );
    let (a_finished, b_started): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT (SELECT finished_at FROM ampersand.sync_runs WHERE id = 1), (SELECT started_at FROM ampersand.sync_runs WHERE id = 2)",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(b_started >= a_finished);
    assert!(app.runs().await.iter().all(|r| r.2 == "succeeded"));
}

/// The fixture project under another id, with ids of its own.
fn other_project() -> (Value, Value, Value) {
    let rename = |v: Value| -> Value {
        let text = v
            .to_string()
            .replace(PROJECT_ID, "proj-b0b")
            .replace(crate::fixtures::PROJECT_NAME, "bob-prod")
            .replace("\"inst-", "\"instb-")
            .replace("\"conn-", "\"connb-")
            .replace("\"cfg-", "\"cfgb-")
            .replace("\"papp-", "\"pappb-")
            .replace("\"int-", "\"intb-");
        serde_json::from_str(&text).unwrap()
    };
    (
        rename(crate::fixtures::project()),
        rename(crate::fixtures::integrations()),
        rename(installations(0..12)),
    )
}

#[tokio::test]
async fn runs_of_different_projects_do_not_block_each_other() {
    // Arrange: project A's run holds its lock; project B has its own API.
    let app = spawn_app().await;
    let (project, integrations, installs) = other_project();
    let api_b = FakeApi::start(project, integrations, installs).await;
    let gate = Gate::new();
    let mut first = start_held_sync(&app, &gate).await;

    // Act
    let other = app
        .ampsync_env(
            &["sync", "--project", "proj-b0b"],
            &[("AMPERSAND_API_URL", &api_b.url)],
        )
        .await;

    // Assert: B finished while A still held its lock; then A finishes too.
    assert_eq!(other.code(), 0, "{}", other.stderr());
    assert!(
        other.stdout().contains("installations +12"),
        "{}",
        other.stdout()
    );
    assert!(first.try_wait().unwrap().is_none(), "A is still running");
    gate.open();
    exited_within(first, FINISHES).await.success();
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        42
    );
}

#[tokio::test]
async fn sigterm_while_waiting_for_the_lock_exits_promptly() {
    sigterm_while_waiting_for_the_lock(&["sync", "--project", PROJECT_ID, "--wait"]).await;
}

#[tokio::test]
async fn sigterm_while_an_import_waits_for_the_lock_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.json");
    std::fs::write(&file, crate::fixtures::installations(0..3).to_string()).unwrap();
    let file = file.to_str().unwrap();
    sigterm_while_waiting_for_the_lock(&["import", file, "--project", PROJECT_ID, "--wait"]).await;
}

/// Runs `args` (a command with `--wait`) while a sync holds the project's lock, sends
/// SIGTERM once it waits, and checks it stops promptly without starting a run.
async fn sigterm_while_waiting_for_the_lock(args: &[&str]) {
    let app = spawn_app().await;
    let gate = Gate::new();
    let first = start_held_sync(&app, &gate).await;
    let waiting = app.spawn(args, &[]);
    let probe = app.probe();
    eventually("the second run waits on the lock", move || {
        let probe = probe.clone();
        async move { waiting_on_lock(&probe).await }
    })
    .await;

    signal(&waiting, "TERM");
    let stopped = exited_within(waiting, EXIT_PROMPTLY).await;

    assert_eq!(stopped.code(), 1);
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    gate.open();
    exited_within(first, FINISHES).await.success();
    assert_eq!(app.runs().await.len(), 1, "the stopped run never started");
}
