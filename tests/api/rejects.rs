//! Records that cannot be read, one among many and at scale, and snapshots of the wrong
//! project: an unreadable record is kept aside (scrubbed) while the rest applies and
//! nothing is deleted; a response whose every record fails ends in a recorded failure
//! with flat memory; an import given the wrong project fails loudly instead of
//! "succeeding" with nothing.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::fixtures::{installation, installations, secrets_in, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// Writes `value` as a saved response in `dir`; returns its path.
fn save(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.display().to_string()
}

async fn import(app: &TestApp, file: &str, project: &str) -> crate::helpers::Run {
    app.ampsync(&[
        "import",
        file,
        "--project",
        project,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
}

#[tokio::test]
async fn a_response_of_100000_unreadable_installations_fails_its_run_records_every_reject_and_keeps_memory_flat(
) {
    // Arrange: 100,000 installations of about 1 KB each whose `id` is a number, as an API
    // change to a required field's type would send them. Written as text: building
    // 100,000 JSON values in a debug build would take longer than the run.
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all-bad.json");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let padding = "x".repeat(800);
    file.write_all(b"[").unwrap();
    for i in 0..N {
        if i > 0 {
            file.write_all(b",").unwrap();
        }
        write!(
            file,
            r#"{{"id":{i},"projectId":"{PROJECT_ID}","integrationId":"int-salesforce-0","healthStatus":"healthy","createTime":"2023-11-07T05:31:56Z","connection":{{"id":"conn-{i}","accessToken":"00D5g000004Sn{i:05}!AQ4AQFjR8x0Kp2Lm9Vq7"}},"config":{{"id":"cfg-{i}","content":{{"note":"{padding}"}}}}}}"#
        )
        .unwrap();
    }
    file.write_all(b"]").unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
    let app = spawn_app().await;
    let file = path.display().to_string();

    // Act
    let started = std::time::Instant::now();
    let (run, peak) = app
        .ampsync_measured(
            &[
                "import",
                &file,
                "--project",
                PROJECT_ID,
                "--observed-at",
                "2026-11-01T00:00:00Z",
            ],
            &[],
        )
        .await;
    eprintln!(
        "100,000 rejected: peak RSS {} MB, {:.1} s",
        peak >> 20,
        started.elapsed().as_secs_f64()
    );

    // Assert: a failed run that says why, with every reject counted and recorded.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("none of the 100000 installations of project")
            && run.stderr().contains("rejected_records"),
        "{}",
        run.stderr()
    );
    let (status, rejected, without_payload, error): (String, i64, i64, Option<String>) =
        sqlx::query_as(
            "SELECT status, rejected, rejected_without_payload, error FROM ampersand.sync_runs",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    assert_eq!((rejected, without_payload), (100_000, 99_000));
    assert!(error.unwrap().contains("none of the 100000"));
    let (stored, with_payload, last_with_payload): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), count(payload), max(position) FILTER (WHERE payload IS NOT NULL)
         FROM ampersand.rejected_records",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (stored, with_payload, last_with_payload),
        (100_000, 1_000, Some(999))
    );
    let (reason, payload): (String, Value) =
        sqlx::query_as("SELECT reason, payload FROM ampersand.rejected_records WHERE position = 7")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(reason.contains("invalid type"), "{reason}");
    assert_eq!(payload["id"], 7);
    assert!(
        payload["connection"].get("accessToken").is_none(),
        "{payload}"
    );
    // Nothing else was applied.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
    // A handful of log lines, not 100,000.
    assert_eq!(run.logged("record rejected").len(), 5);
    let summary = run.logged("records rejected");
    assert_eq!(summary.len(), 1, "{}", run.stderr());
    assert_eq!(summary[0]["rejected"], 100_000);
    assert_eq!(summary[0]["without_payload"], 99_000);
    // Memory stayed flat: 0.2.0 took 4.4 GB here before it failed.
    assert!(peak < 150 << 20, "peak RSS {} MB", peak >> 20);
    // The probe sees the failure.
    let probe = app.ampsync(&["status", "--project", PROJECT_ID]).await;
    assert_eq!(probe.code(), 1, "{}", probe.stdout());
    assert!(
        probe.stdout().contains("the latest run failed"),
        "{}",
        probe.stdout()
    );
}

#[tokio::test]
async fn past_the_cap_rejected_records_keep_reason_and_position_and_the_run_row_and_report_say_how_many(
) {
    // Arrange: 1,200 unreadable installations among 20 good ones.
    let mut list: Vec<Value> = installations(0..20).as_array().unwrap().clone();
    for i in 0..1_200 {
        let mut bad = installation(1_000 + i);
        bad["createTime"] = json!(i);
        list.push(bad);
    }
    let app = spawn_app_with(Value::Array(list)).await;

    // Act
    let run = app.sync().await;

    // Assert
    assert!(
        run.stdout()
            .contains("1200 records rejected (200 stored without their payload)"),
        "{}",
        run.stdout()
    );
    let (rejected, without_payload): (i64, i64) =
        sqlx::query_as("SELECT rejected, rejected_without_payload FROM ampersand.sync_runs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((rejected, without_payload), (1_200, 200));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.rejected_records WHERE payload IS NULL AND reason LIKE '%invalid type%' AND position >= 1020")
            .await,
        200
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        20
    );
    let status = app.ampsync(&["status", "--json"]).await.success();
    let status: Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(status["runs"][0]["rejected"], 1_200);
    assert_eq!(status["runs"][0]["rejected_without_payload"], 200);
}

#[tokio::test]
async fn an_import_into_a_project_the_file_does_not_hold_exits_2_names_the_files_project_and_writes_nothing(
) {
    // Arrange: the fixture project's installations, two of them under a projectId shaped
    // like a token; imported as `my-project` into a fresh database.
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9qIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
    let mut list: Vec<Value> = installations(0..20).as_array().unwrap().clone();
    for inst in list.iter_mut().take(2) {
        inst["projectId"] = json!(jwt);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "dump.json", &Value::Array(list));
    let app = spawn_app().await;

    // Act
    let run = import(&app, &file, "my-project").await;

    // Assert
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!("{PROJECT_ID}: 18"))
            && stderr.contains("20 of the 20 installations belong to other projects")
            && stderr.contains("--project <id>")
            && stderr.contains(&format!("--project {PROJECT_ID}")),
        "{stderr}"
    );
    assert!(!stderr.contains(jwt), "{stderr}");
    for table in ["sync_runs", "rejected_records", "installations", "groups"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM ampersand.{table}"))
                .await,
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn an_import_where_most_installations_belong_to_other_projects_exits_2_too() {
    // Arrange: 11 of 20 belong to another project (more than half).
    let mut list: Vec<Value> = installations(0..20).as_array().unwrap().clone();
    for inst in list.iter_mut().take(11) {
        inst["projectId"] = json!("proj-other");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "dump.json", &Value::Array(list));
    let app = spawn_app().await;

    // Act
    let run = import(&app, &file, PROJECT_ID).await;

    // Assert
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("11 of the 20 installations belong to other projects (proj-other: 11)"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.sync_runs").await,
        0
    );
}

#[tokio::test]
async fn a_file_where_a_few_installations_belong_to_another_project_imports_the_rest() {
    // Arrange: 3 of 20 belong to another project.
    let mut list: Vec<Value> = installations(0..20).as_array().unwrap().clone();
    for inst in list.iter_mut().skip(5).take(3) {
        inst["projectId"] = json!("proj-other");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "dump.json", &Value::Array(list));
    let app = spawn_app().await;

    // Act
    let run = import(&app, &file, PROJECT_ID).await.success();

    // Assert
    assert!(
        run.stdout().contains("3 records rejected"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        17
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.rejected_records WHERE reason LIKE 'id inst-%: belongs to project proj-other%'")
            .await,
        3
    );
}

#[tokio::test]
async fn a_sync_answered_with_another_projects_installations_fails_its_run_and_applies_nothing() {
    // Arrange: the API sends installations of another project.
    let mut list: Vec<Value> = installations(0..10).as_array().unwrap().clone();
    for inst in &mut list {
        inst["projectId"] = json!("proj-elsewhere");
    }
    let app = spawn_app_with(Value::Array(list)).await;

    // Act
    let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert: a failed run (exit 1, recorded), not a usage error: the project's id came
    // from the API.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("proj-elsewhere: 10"),
        "{}",
        run.stderr()
    );
    let runs = app.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].2, "failed");
    assert!(runs[0].3.as_deref().unwrap().contains("other projects"));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.projects").await,
        0
    );
}

#[tokio::test]
async fn a_sync_none_of_whose_installations_can_be_read_fails_and_its_dry_run_says_so_first() {
    // Arrange: every installation's createTime is a number.
    let mut list: Vec<Value> = installations(0..10).as_array().unwrap().clone();
    for inst in &mut list {
        inst["createTime"] = json!(17);
    }
    let app = spawn_app_with(Value::Array(list)).await;

    // Act
    let dry = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--dry-run"])
        .await;
    let real = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert: both fail alike; only the real run is recorded, with its rejects.
    for run in [&dry, &real] {
        assert_eq!(run.code(), 1, "{}", run.stderr());
        assert!(
            run.stderr()
                .contains("none of the 10 installations of project"),
            "{}",
            run.stderr()
        );
    }
    let runs = app.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].2, "failed");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.rejected_records WHERE payload IS NOT NULL")
            .await,
        10
    );
    assert_eq!(
        app.count("SELECT rejected FROM ampersand.sync_runs").await,
        10
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.projects").await,
        0
    );
}

#[tokio::test]
async fn an_unreadable_installation_among_many_is_rejected_the_rest_applies_and_nothing_is_deleted()
{
    // Arrange: a first sync; then inst-00029 disappears, inst-00005 changes, and two
    // records cannot be read: one has no id, one has a number for a time.
    let app = spawn_app().await;
    app.sync().await;
    let mut payload = installations(0..29);
    let list = payload.as_array_mut().unwrap();
    list[5]["healthStatus"] = json!("degraded");
    let mut no_id = installation(100);
    no_id.as_object_mut().unwrap().remove("id");
    let mut wrong_type = installation(101);
    wrong_type["createTime"] = json!(12345);
    let bad_secrets = secrets_in(&json!([no_id, wrong_type]));
    list.insert(3, no_id);
    list.insert(17, wrong_type);
    app.api.set_installations(payload);

    // Act
    let run = app.sync().await;

    // Assert: the two are kept aside, with why and where, scrubbed.
    let rejected: Vec<(i64, String, i64, String, Value)> = sqlx::query_as(
        "SELECT sync_run_id, source, position, reason, payload FROM ampersand.rejected_records ORDER BY position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0].1.as_str(), rejected[0].2),
        ("installations", 3)
    );
    assert!(
        rejected[0].3.contains("missing field `id`"),
        "{}",
        rejected[0].3
    );
    assert_eq!(rejected[0].4["connection"]["id"], "conn-00050");
    assert_eq!(rejected[1].2, 17);
    assert!(
        rejected[1].3.contains("invalid type: number"),
        "{}",
        rejected[1].3
    );
    assert_eq!(rejected[1].4["id"], "inst-00101");
    let dump = app.dump().await;
    for secret in &bad_secrets {
        assert!(!dump.contains(secret.as_str()), "stored: {secret}");
    }
    // The rest applied; nothing was deleted, since the snapshot may be incomplete.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE id = 'inst-00005' AND health_status = 'degraded'").await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.change_log WHERE change = 'delete'")
            .await,
        0
    );
    // The run's record, its report and its log say so.
    let (run_id, rejected_count, rows_deleted, skipped): (i64, i64, i64, Option<String>) =
        sqlx::query_as("SELECT id, rejected, rows_deleted, deletions_skipped_reason FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(rejected[0].0, run_id);
    assert_eq!((rejected_count, rows_deleted), (2, 0));
    assert!(skipped.unwrap().contains("2 source records were rejected"));
    assert!(
        run.stdout().contains("2 records rejected"),
        "{}",
        run.stdout()
    );
    assert_eq!(run.logged("record rejected").len(), 2);
    assert_eq!(run.logged("snapshot read")[0]["rejected"], 2);
}
