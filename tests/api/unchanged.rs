//! Recognising a snapshot identical to the one the last run applied (the job's common
//! case), and never mistaking a different situation for it.

use serde_json::Value;

use crate::fixtures::{installation, installations, PROJECT_ID};
use crate::helpers::spawn_app;

/// Whether the run recognised its snapshot as the last one applied, without comparing it.
fn recognised(run: &crate::helpers::Run) -> Option<i64> {
    run.logged("snapshot read")
        .first()
        .and_then(|l| l["unchanged_since_run"].as_i64())
}

#[tokio::test]
async fn an_identical_snapshot_is_recognised_at_once_and_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.sync().await;
    let before = app.fingerprint().await;

    // Act
    let run = app.sync().await;

    // Assert: same rows, same history, and the log says why nothing was compared.
    assert_eq!(app.fingerprint().await, before);
    assert!(run.stdout().contains("no changes"), "{}", run.stdout());
    assert_eq!(recognised(&run), Some(1), "{}", run.stderr());
    let read = &run.logged("snapshot read")[0];
    assert!(
        read["rows"].as_str().unwrap().contains("installations=30"),
        "{read}"
    );
    let fingerprints = app
        .count("SELECT count(DISTINCT snapshot->>'digest') FROM ampersand.sync_runs")
        .await;
    assert_eq!(fingerprints, 1, "both runs applied the same snapshot");
}

#[tokio::test]
async fn after_a_group_sync_the_same_rows_in_a_full_sync_are_compared_again_and_delete_the_other_groups(
) {
    // Arrange: a full sync; then the source keeps only grp-1, which a group sync reads
    // (it deletes nothing outside its group).
    let app = spawn_app().await;
    app.sync().await;
    let only_group: Vec<Value> = installations(0..30)
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["group"]["groupRef"] == "grp-1")
        .cloned()
        .collect();
    let kept = only_group.len() as i64;
    app.api.set_installations(Value::Array(only_group));
    app.ampsync(&["sync", "--project", PROJECT_ID, "--group-ref", "grp-1"])
        .await
        .success();

    // Act: a full sync gets exactly the rows the group sync got.
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--allow-mass-delete"])
        .await
        .success();

    // Assert: not taken for the group sync's snapshot; the other groups are deleted.
    assert_eq!(recognised(&run), None, "{}", run.stderr());
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
            .await,
        kept,
        "{}",
        run.stdout()
    );
}

#[tokio::test]
async fn after_a_run_that_skipped_deletions_the_same_rows_without_the_bad_record_delete_what_is_gone(
) {
    // Arrange: a full sync; then installation 29 is gone but a bad record came along,
    // so its deletion is skipped.
    let app = spawn_app().await;
    app.sync().await;
    let mut with_bad = installations(0..29);
    let mut bad = installation(100);
    bad.as_object_mut().unwrap().remove("id");
    with_bad.as_array_mut().unwrap().push(bad);
    app.api.set_installations(with_bad);
    let skipped = app.sync().await;
    assert!(
        skipped.stdout().contains("deletions skipped"),
        "{}",
        skipped.stdout()
    );

    // Act: the same rows, without the bad record.
    app.api.set_installations(installations(0..29));
    let run = app.sync().await;

    // Assert: compared, not taken for the last snapshot, and the deletion happens.
    assert_eq!(recognised(&run), None, "{}", run.stderr());
    let deleted: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT deleted_at FROM ampersand.installations WHERE id = 'inst-00029'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(deleted.is_some(), "{}", run.stdout());
}
