//! `ampsync import`: history rebuilt from archived responses.

use serde_json::Value;

use crate::fixtures::{installations, PROJECT_ID};
use crate::helpers::{spawn_app, TABLES};

/// The history of every table without run ids, for comparing two databases.
async fn history(app: &crate::helpers::TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for table in TABLES {
        let rows: Vec<Value> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(h) - 'sync_run_id' - 'valid_from' - 'valid_to' - 'first_seen_at' - 'changed_at' - 'deleted_at'
             FROM ampersand.{table}_history h ORDER BY valid_from, to_jsonb(h)::text"
        ))
        .fetch_all(&app.pool)
        .await
        .unwrap();
        all.extend(rows);
    }
    all
}

#[tokio::test]
async fn import_of_two_archived_files_rebuilds_the_same_history_as_two_syncs() {
    // Arrange: the same two snapshots, once through the API and once as files.
    let first = installations(0..20);
    let second = installations(3..24);
    let synced = crate::helpers::spawn_app_with(first.clone()).await;
    synced.sync().await;
    synced.api.set_installations(second.clone());
    synced.sync().await;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (day1, day2) = (write("day1.json", &first), write("day2.json", &second));
    let project = write("project.json", &crate::fixtures::project());
    let integrations = write("integrations.json", &crate::fixtures::integrations());
    let imported = spawn_app().await;

    // Act: the files in reverse order: import sorts them by observed time.
    let run = imported
        .ampsync(&[
            "import",
            &day2,
            &day1,
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-08T00:00:00Z",
            "--observed-at",
            "2026-11-01T00:00:00Z",
            "--project-file",
            &project,
            "--integrations-file",
            &integrations,
        ])
        .await
        .success();

    // Assert
    assert_eq!(history(&imported).await, history(&synced).await);
    assert_eq!(run.stdout().lines().count(), 2, "{}", run.stdout());
    let observed: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT observed_at FROM ampersand.sync_runs ORDER BY id")
            .fetch_all(&imported.pool)
            .await
            .unwrap();
    assert_eq!(observed[0].to_rfc3339(), "2026-11-01T00:00:00+00:00");
    let deleted_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT deleted_at FROM ampersand.installations WHERE id = 'inst-00000'",
    )
    .fetch_one(&imported.pool)
    .await
    .unwrap();
    assert_eq!(
        deleted_at.to_rfc3339(),
        "2026-11-08T00:00:00+00:00",
        "history uses the observed time"
    );
}

#[tokio::test]
async fn import_refuses_a_snapshot_older_than_the_newest_applied_and_changes_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.json");
    std::fs::write(&path, installations(0..5).to_string()).unwrap();
    let path = path.to_string_lossy().into_owned();
    app.ampsync(&[
        "import",
        &path,
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-08T00:00:00Z",
    ])
    .await
    .success();
    let before = app.fingerprint().await;

    let older = app
        .ampsync(&[
            "import",
            &path,
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-01T00:00:00Z",
        ])
        .await;

    assert_eq!(older.code(), 1);
    assert!(
        older.stderr().contains("history only moves forward"),
        "{}",
        older.stderr()
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn import_reads_standard_input_and_rejects_a_file_that_is_not_an_array_of_installations() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"installations": []}"#).unwrap();

    let run = app
        .ampsync(&["import", bad.to_str().unwrap(), "--project", PROJECT_ID])
        .await;

    assert_eq!(run.code(), 1);
    assert!(
        run.stderr()
            .contains("not a complete JSON array of installations"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ampsync"))
        .args(["import", "-", "--project", PROJECT_ID])
        .env("DATABASE_URL", &app.database_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(installations(0..3).to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        3
    );
}
