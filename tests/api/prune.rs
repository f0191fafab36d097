//! `ampsync prune`: old runs and rejected records go, each project's latest succeeded
//! and failed runs stay, a dry run writes nothing, and `--history` never touches a
//! current version.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::Value;

use crate::helpers::{Run, TestApp};

const PROJECT: &str = "proj-7c1e2a90";

fn sample(name: &str) -> Value {
    let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Imports `installations` observed `days_ago` days before now.
async fn import(app: &TestApp, dir: &std::path::Path, installations: &Value, days_ago: i64) -> Run {
    let file = dir.join(format!("installations-{days_ago}.json"));
    std::fs::write(&file, installations.to_string()).unwrap();
    let observed =
        (Utc::now() - Duration::days(days_ago)).to_rfc3339_opts(SecondsFormat::Secs, true);
    app.ampsync(&[
        "import",
        file.to_str().unwrap(),
        "--project",
        PROJECT,
        "--observed-at",
        &observed,
    ])
    .await
}

/// Per run id: its status; and the rejected records' run ids.
async fn ledger(app: &TestApp) -> (Vec<(i64, String)>, Vec<i64>) {
    let runs = sqlx::query_as("SELECT id, status FROM ampersand.sync_runs ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let rejected =
        sqlx::query_scalar("SELECT sync_run_id FROM ampersand.rejected_records ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    (runs, rejected)
}

/// A ledger of five runs, all started 200 days ago: succeeded, failed, succeeded with a
/// rejected record, failed, succeeded; snapshots observed 30, 20 and 10 days ago.
async fn app_with_old_runs(dir: &std::path::Path) -> TestApp {
    let app = crate::helpers::spawn_app().await;
    let first = sample("installations-2026-11-01.json");
    let second = sample("installations-2026-11-08.json");
    let mut with_reject = second.clone();
    with_reject[0].as_object_mut().unwrap().remove("id");
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, "[{\"id\": ").unwrap();
    let truncated = truncated.to_str().unwrap();
    let fail_args = ["import", truncated, "--project", PROJECT];
    import(&app, dir, &first, 30).await.success();
    assert_eq!(app.ampsync(&fail_args).await.code(), 1);
    import(&app, dir, &with_reject, 20).await.success();
    assert_eq!(app.ampsync(&fail_args).await.code(), 1);
    import(&app, dir, &second, 10).await.success();
    sqlx::query("UPDATE ampersand.sync_runs SET started_at = started_at - interval '200 days', finished_at = finished_at - interval '200 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (runs, rejected) = ledger(&app).await;
    let statuses: Vec<&str> = runs.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "succeeded", "failed", "succeeded"]
    );
    assert_eq!(rejected, [3]);
    app
}

#[tokio::test]
async fn prune_deletes_old_runs_and_their_rejects_but_keeps_the_latest_succeeded_and_failed_run() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_old_runs(dir.path()).await;
    let before = ledger(&app).await;
    let tables = app.fingerprint().await;

    // Act: a dry run, then the real one.
    let dry = app
        .ampsync(&["prune", "--older-than", "90d", "--dry-run"])
        .await
        .success();
    let after_dry = ledger(&app).await;
    let real = app
        .ampsync(&["prune", "--older-than", "90d"])
        .await
        .success();

    // Assert: the dry run counted and wrote nothing; the real one kept runs 4 and 5.
    assert!(
        dry.stdout().contains(&format!(
            "project {PROJECT}: would prune 3 runs and 1 rejected records"
        )),
        "{}",
        dry.stdout()
    );
    assert_eq!(after_dry, before);
    assert!(
        real.stdout().contains(&format!(
            "project {PROJECT}: pruned 3 runs and 1 rejected records"
        )),
        "{}",
        real.stdout()
    );
    let (runs, rejected) = ledger(&app).await;
    assert_eq!(
        runs,
        [(4, "failed".to_owned()), (5, "succeeded".to_owned())]
    );
    assert!(rejected.is_empty());
    assert_eq!(
        app.fingerprint().await,
        tables,
        "the synced tables are untouched"
    );

    // Runs younger than the cutoff stay, and a later import still works on the ledger.
    let again = app
        .ampsync(&["prune", "--older-than", "300d"])
        .await
        .success();
    assert!(
        again.stdout().contains("pruned 0 runs"),
        "{}",
        again.stdout()
    );
    let status = app.ampsync(&["status"]).await;
    assert!(status.stdout().contains("succeeded"), "{}", status.stdout());
}

#[tokio::test]
async fn prune_history_deletes_versions_that_ended_before_the_cutoff_and_never_a_current_one() {
    // Arrange: versions observed 30, 20 and 10 days ago; the cutoff is 15 days ago.
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_old_runs(dir.path()).await;
    let count = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            let total: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            total
        }
    };
    let open =
        "SELECT (SELECT count(*) FROM ampersand.installations_history WHERE valid_to IS NULL)
                     + (SELECT count(*) FROM ampersand.configs_history WHERE valid_to IS NULL)
                     + (SELECT count(*) FROM ampersand.connections_history WHERE valid_to IS NULL)";
    let ended_early = "SELECT (SELECT count(*) FROM ampersand.installations_history WHERE valid_to < now() - interval '15 days')
                            + (SELECT count(*) FROM ampersand.configs_history WHERE valid_to < now() - interval '15 days')
                            + (SELECT count(*) FROM ampersand.connections_history WHERE valid_to < now() - interval '15 days')";
    let open_before = count(open).await;
    let early_before = count(ended_early).await;
    assert!(
        early_before > 0,
        "the fixture has versions that ended before the cutoff"
    );
    let tables = app.fingerprint().await;
    let as_of_recent = "SELECT count(*) FROM ampersand.installations_history
                        WHERE valid_from <= now() - interval '5 days'
                          AND (valid_to IS NULL OR valid_to > now() - interval '5 days') AND change <> 'delete'";
    let recent_before = count(as_of_recent).await;

    // Act
    let dry = app
        .ampsync(&["prune", "--older-than", "15d", "--history", "--dry-run"])
        .await
        .success();
    let early_after_dry = count(ended_early).await;
    let out = app
        .ampsync(&["prune", "--older-than", "15d", "--history"])
        .await
        .success();

    // Assert
    assert!(
        dry.stdout()
            .contains("history versions that ended before it"),
        "{}",
        dry.stdout()
    );
    assert_eq!(early_after_dry, early_before, "a dry run deletes nothing");
    assert!(
        out.stdout()
            .contains("history versions that ended before it ("),
        "{}",
        out.stdout()
    );
    assert_eq!(count(ended_early).await, 0);
    assert_eq!(
        count(open).await,
        open_before,
        "every current version is kept"
    );
    assert_eq!(
        count(as_of_recent).await,
        recent_before,
        "as-of after the cutoff is unchanged"
    );
    let current = |mut v: Value| {
        for table in v.as_object_mut().unwrap().values_mut() {
            table.as_object_mut().unwrap().remove("history");
        }
        v
    };
    assert_eq!(
        current(app.fingerprint().await),
        current(tables),
        "current rows untouched"
    );
}

#[tokio::test]
async fn prune_refuses_a_zero_or_unreadable_age() {
    let app = crate::helpers::spawn_app().await;
    for age in ["0s", "ninety days"] {
        let run = app.ampsync(&["prune", "--older-than", age]).await;
        assert_eq!(run.code(), 2, "{age}: {}", run.stderr());
    }
}

/// The log lines of a run at level WARN or above.
fn warnings(run: &Run) -> Vec<Value> {
    run.log_lines()
        .into_iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect()
}

#[tokio::test]
async fn dry_runs_of_prune_and_sync_log_no_warning() {
    // Arrange: a project with a run to prune.
    let app = crate::helpers::spawn_app().await;
    app.sync().await;

    // Act
    let prune = app
        .ampsync(&["prune", "--older-than", "1s", "--history", "--dry-run"])
        .await
        .success();
    let sync = app
        .ampsync(&[
            "sync",
            "--project",
            crate::fixtures::PROJECT_ID,
            "--dry-run",
        ])
        .await
        .success();

    // Assert: a dry run takes no lock, so it releases none (the server would warn).
    for run in [&prune, &sync] {
        assert_eq!(warnings(run), Vec::<Value>::new(), "{}", run.stderr());
        assert!(!run.stderr().contains("lock of type"), "{}", run.stderr());
    }
}

#[tokio::test]
async fn prune_refuses_an_age_that_reaches_before_the_earliest_time_postgres_stores() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_old_runs(dir.path()).await;
    let before = ledger(&app).await;

    // Act
    let runs = [
        app.ampsync(&["prune", "--older-than", "7000y"]).await,
        app.ampsync(&["prune", "--older-than", "7000y", "--history", "--dry-run"])
            .await,
    ];

    // Assert: a usage error that says why, and nothing pruned.
    for run in &runs {
        assert_eq!(run.code(), 2, "{}", run.stderr());
        assert!(
            run.stderr()
                .contains("reaches before the earliest time PostgreSQL stores (4714-11-24 BC)"),
            "{}",
            run.stderr()
        );
        assert!(!run.stderr().contains("out of range"), "{}", run.stderr());
    }
    assert_eq!(ledger(&app).await, before);
    // The oldest age that fits still prunes.
    app.ampsync(&["prune", "--older-than", "6000y"])
        .await
        .success();
}

#[tokio::test]
async fn prune_of_a_project_the_ledger_does_not_know_is_a_usage_error_naming_the_known_ones() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_old_runs(dir.path()).await;
    let before = ledger(&app).await;
    let typo = "proj-7c1e2a9\u{1b}[2J";

    // Act: an unknown project alone, and beside a known one.
    let alone = app
        .ampsync(&["prune", "--older-than", "15d", "--project", typo])
        .await;
    let beside = app
        .ampsync(&[
            "prune",
            "--older-than",
            "15d",
            "--project",
            PROJECT,
            "--project",
            "acme",
        ])
        .await;

    // Assert: exit 2, the known projects named, control characters scrubbed, and
    // nothing pruned, not even the known project's runs.
    for (run, named) in [(&alone, "proj-7c1e2a9"), (&beside, "project acme ")] {
        assert_eq!(run.code(), 2, "{}", run.stderr());
        let err = run.stderr();
        assert!(err.contains(named), "{err}");
        assert!(err.contains("is not in the run ledger"), "{err}");
        assert!(err.contains(&format!("it knows {PROJECT}")), "{err}");
        assert!(!err.contains('\u{1b}'), "scrubbed: {err:?}");
        assert!(!run.stdout().contains("pruned"), "{}", run.stdout());
    }
    assert_eq!(ledger(&app).await, before);
}
