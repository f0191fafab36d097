//! Runs that die: killed by SIGKILL mid-apply, stopped by SIGTERM or SIGINT during fetch
//! or apply, or cut off from Postgres. Nothing is left half-written, the run is
//! recorded failed (or marked abandoned by the next run), and the next run converges.

use std::time::Duration;

use crate::helpers::{
    app_with_pending_changes, assert_converged, block_installation_writes, eventually,
    exited_within, job_gone, signal, start_held_sync, sync_args, unblock, waiting_on_lock, Gate,
    EXIT_PROMPTLY, FINISHES,
};

#[tokio::test]
async fn a_run_killed_mid_apply_leaves_nothing_half_written_and_the_next_run_marks_it_abandoned_and_converges(
) {
    // Arrange
    let app = app_with_pending_changes().await;
    let before = app.fingerprint().await;
    let blocker = block_installation_writes(&app).await;
    let probe = app.probe();
    let child = app.spawn(&sync_args(), &[]);
    let p = probe.clone();
    eventually("the run is mid-apply", move || {
        let p = p.clone();
        async move { waiting_on_lock(&p).await }
    })
    .await;

    // Act: SIGKILL, then let the dead session's statement go.
    signal(&child, "KILL");
    exited_within(child, FINISHES).await;
    unblock(blocker).await;
    let p = probe.clone();
    eventually("the killed run's sessions are gone", move || {
        let p = p.clone();
        async move { job_gone(&p).await }
    })
    .await;

    // Assert: nothing of the killed run is visible; the next run cleans up after it.
    assert_eq!(app.fingerprint().await, before, "nothing half-written");
    assert_eq!(app.runs().await[1].2, "running");
    let next = app.sync().await;
    assert_eq!(
        next.logged("earlier runs of this project stopped without finishing; marked abandoned")
            .len(),
        1
    );
    let runs = app.runs().await;
    assert_eq!(runs[1].2, "abandoned");
    assert_eq!(runs[2].2, "succeeded");
    assert_converged(&app).await;
}

#[tokio::test]
async fn a_run_killed_while_its_statement_waits_frees_the_projects_lock_before_the_statement_ends()
{
    // Arrange: a run whose apply waits on a lock the test holds for as long as it likes.
    let app = app_with_pending_changes().await;
    let blocker = block_installation_writes(&app).await;
    let probe = app.probe();
    let child = app.spawn(&sync_args(), &[]);
    let p = probe.clone();
    eventually("the run is mid-apply", move || {
        let p = p.clone();
        async move { waiting_on_lock(&p).await }
    })
    .await;

    // Act: SIGKILL while the test still holds its lock, so the dead client's statement
    // would wait for ever; then a rerun.
    signal(&child, "KILL");
    exited_within(child, FINISHES).await;
    let p = probe.clone();
    eventually(
        "the server ends the killed run's session, its statement still waiting",
        move || {
            let p = p.clone();
            async move { job_gone(&p).await }
        },
    )
    .await;
    let mut rerun = app.spawn(&sync_args(), &[]);
    let deadline = tokio::time::Instant::now() + FINISHES;
    while !waiting_on_lock(&probe).await {
        if let Some(status) = rerun.try_wait().unwrap() {
            let run = crate::helpers::Run(rerun.wait_with_output().await.unwrap());
            panic!(
                "the rerun ended ({status}) instead of taking the project's lock: {}",
                run.stderr()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for the rerun to reach the apply"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: the rerun holds the project's lock while the blocker still holds its own;
    // once let go, it applies and marks the killed run abandoned.
    unblock(blocker).await;
    let rerun = exited_within(rerun, FINISHES).await.success();
    assert_eq!(
        rerun
            .logged("earlier runs of this project stopped without finishing; marked abandoned")
            .len(),
        1
    );
    let statuses: Vec<String> = app.runs().await.into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, ["succeeded", "abandoned", "succeeded"]);
    assert_converged(&app).await;
}

#[tokio::test]
async fn sigterm_or_sigint_during_fetch_rolls_back_records_the_run_failed_and_exits_promptly() {
    for sig in ["TERM", "INT"] {
        // Arrange: a run reading a changed installations response that is held open.
        let app = app_with_pending_changes().await;
        let before = app.fingerprint().await;
        let gate = Gate::new();
        let child = start_held_sync(&app, &gate).await;

        // Act
        signal(&child, sig);
        let run = exited_within(child, EXIT_PROMPTLY).await;

        // Assert
        assert_eq!(
            run.code(),
            1,
            "SIG{sig} {:?}\n{}",
            run.0.status,
            run.stderr()
        );
        let runs = app.runs().await;
        let (_, _, status, error) = runs.last().unwrap();
        assert_eq!(status, "failed");
        assert_eq!(
            error.as_deref(),
            Some(format!("interrupted by SIG{sig}; nothing was applied").as_str())
        );
        assert_eq!(app.fingerprint().await, before, "SIG{sig}");
        gate.open();
        app.sync().await;
        assert_converged(&app).await;
    }
}

#[tokio::test]
async fn sigterm_or_sigint_during_apply_rolls_back_records_the_run_failed_and_exits_promptly() {
    for sig in ["TERM", "INT"] {
        // Arrange: a run blocked halfway through writing its snapshot.
        let app = app_with_pending_changes().await;
        let before = app.fingerprint().await;
        let blocker = block_installation_writes(&app).await;
        let probe = app.probe();
        let child = app.spawn(&sync_args(), &[]);
        let p = probe.clone();
        eventually("the run is mid-apply", move || {
            let p = p.clone();
            async move { waiting_on_lock(&p).await }
        })
        .await;

        // Act
        signal(&child, sig);
        let run = exited_within(child, EXIT_PROMPTLY).await;
        unblock(blocker).await;
        let p = probe.clone();
        eventually("the stopped run's sessions are gone", move || {
            let p = p.clone();
            async move { job_gone(&p).await }
        })
        .await;

        // Assert
        assert_eq!(run.code(), 1, "{}", run.stderr());
        let runs = app.runs().await;
        let (_, _, status, error) = runs.last().unwrap();
        assert_eq!(status, "failed", "SIG{sig}");
        assert!(
            error
                .as_deref()
                .unwrap()
                .contains(&format!("interrupted by SIG{sig}")),
            "{error:?}"
        );
        assert_eq!(app.fingerprint().await, before, "SIG{sig}: rolled back");
        app.sync().await;
        assert_converged(&app).await;
    }
}

#[tokio::test]
async fn a_postgres_connection_dropped_mid_run_fails_with_a_clear_error_and_the_next_run_converges()
{
    // Arrange: a run blocked mid-apply.
    let app = app_with_pending_changes().await;
    let before = app.fingerprint().await;
    let blocker = block_installation_writes(&app).await;
    let probe = app.probe();
    let child = app.spawn(&sync_args(), &[]);
    let p = probe.clone();
    eventually("the run is mid-apply", move || {
        let p = p.clone();
        async move { waiting_on_lock(&p).await }
    })
    .await;

    // Act: the server ends every session of the job on this test's database (only).
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ampsync'",
    )
    .bind(&app.db_name)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let run = exited_within(child, FINISHES).await;
    unblock(blocker).await;

    // Assert
    assert!(!ended.is_empty());
    assert_eq!(run.code(), 1);
    let err = run.stderr();
    assert!(err.contains("lost the connection to Postgres"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert_eq!(app.fingerprint().await, before);
    let next = app.sync().await;
    let last = &app.runs().await[1];
    assert!(
        last.2 == "failed" || last.2 == "abandoned",
        "the dropped run is closed: {last:?} {}",
        next.stderr()
    );
    assert_converged(&app).await;
}
