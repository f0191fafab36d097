//! Operations (issue 22): each installation's operations read page by page after the
//! snapshot, with history, cursors committed with the rows, both list orders, the
//! cursor's boundary, a request budget with a fair rotation, failures that fail
//! neither the run nor the snapshot, logs, and secrets stored nowhere.

use serde_json::{json, Value};

use crate::fixtures::{assert_holds_no_secret, PROJECT_ID};
use crate::helpers::{spawn_app, Fault, Route, TestApp};
use crate::sql_files::import_samples;

/// Operation `n` of installation `inst` (of the fixture's), created `second` seconds
/// after 10:00 on 2026-11-01.
fn operation(app: &TestApp, inst: usize, n: usize, status: &str, second: usize) -> Value {
    let installation = format!("inst-{inst:05}");
    let integration = app.api.state.lock().unwrap().installations[inst]["integrationId"].clone();
    json!({
        "id": format!("op-{inst}-{n:05}"),
        "projectId": PROJECT_ID,
        "integrationId": integration,
        "installationId": installation,
        "configId": format!("cfg-{inst}"),
        "actionType": "read",
        "status": status,
        "result": "[contact] 12 records read",
        "metadata": {"objects": ["contact"], "progress": {"recordsProcessed": 12}},
        "createTime": format!("2026-11-01T{:02}:{:02}:{:02}Z", 10 + second / 3600, second / 60 % 60, second % 60),
    })
}

/// Gives installation `inst` operations `0..count`, one second apart.
fn give(app: &TestApp, inst: usize, count: usize) {
    for n in 0..count {
        app.api.add_operation(operation(app, inst, n, "success", n));
    }
}

/// `ampsync sync` with `args` added, which must succeed.
async fn sync(app: &TestApp, args: &[&str]) -> crate::helpers::Run {
    let mut all = vec!["sync", "--project", PROJECT_ID];
    all.extend_from_slice(args);
    app.ampsync(&all).await.success()
}

/// Requests the fake answered for installation `inst`'s operations.
fn pages_of(app: &TestApp, inst: usize) -> usize {
    let needle = format!("/installations/inst-{inst:05}/operations");
    app.api
        .requests()
        .iter()
        .filter(|p| p.contains(&needle))
        .count()
}

/// The run's `sync_runs.operations` summary.
async fn summary(app: &TestApp, run: i64) -> Value {
    sqlx::query_scalar("SELECT operations FROM ampersand.sync_runs WHERE id = $1")
        .bind(run)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn operations_are_read_page_by_page_to_done_into_typed_columns() {
    // Arrange: 2,500 operations are three pages of 1,000.
    let app = spawn_app().await;
    give(&app, 0, 2_500);
    app.api.add_operation(json!({
        "id": "op-write", "projectId": PROJECT_ID, "integrationId": app.api.state.lock().unwrap().installations[1]["integrationId"],
        "installationId": "inst-00001", "configId": "cfg-1", "actionType": "write", "status": "success",
        "result": "Batch write completed (2 succeeded, 0 failed)",
        "metadata": {"objects": ["contact"], "retry": {"attempts": 2, "lastAttempt": "2026-11-01T10:00:05Z"},
                     "successfulRecordIds": ["001xx000003DGbYAAW", "001xx000003DGbZAAW"]},
        "createTime": "2026-11-01T10:00:00.1234567Z", "brandNewField": {"x": 1}
    }));

    // Act
    let run = sync(&app, &[]).await;

    // Assert
    assert_eq!(pages_of(&app, 0), 3);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations WHERE installation_id = 'inst-00000'")
            .await,
        2_500
    );
    type Stored = (
        String,
        Option<i64>,
        Option<i64>,
        Vec<String>,
        Option<Vec<String>>,
        bool,
        Value,
        Value,
    );
    let row: Stored =
        sqlx::query_as(
            "SELECT action_type, retry_attempts, successful_record_count, objects,
                    successful_record_ids, create_time = '2026-11-01T10:00:00.123457Z', extra, metadata
             FROM ampersand.operations WHERE id = 'op-write'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(row.0, "write");
    assert_eq!(row.1, Some(2));
    assert_eq!(row.2, Some(2));
    assert_eq!(row.3, ["contact"]);
    assert_eq!(row.4, None, "record ids only behind --operation-record-ids");
    assert!(row.5, "createTime rounded to the microsecond");
    assert_eq!(row.6, json!({"brandNewField": {"x": 1}}));
    assert!(row.7.get("successfulRecordIds").is_none());
    assert!(
        run.stdout().contains("operations +2501"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("operations: 30 installations read, 0 left, 0 failed"),
        "{}",
        run.stdout()
    );
    // Every installation has its cursor; the one with operations at its newest.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ampersand.operation_cursors WHERE installation_id = 'inst-00000'
               AND newest_create_time = '2026-11-01T10:41:39Z'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ampersand.operation_cursors WHERE last_read_at IS NOT NULL"
        )
        .await,
        30
    );

    // Act: again, with nothing new, and with the record ids kept.
    let again = sync(&app, &[]).await;
    assert!(
        !again.stdout().contains("operations +"),
        "{}",
        again.stdout()
    );
    sync(&app, &["--operation-record-ids"]).await;
    let ids: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT successful_record_ids FROM ampersand.operations WHERE id = 'op-write'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ids.unwrap(), ["001xx000003DGbYAAW", "001xx000003DGbZAAW"]);
}

/// Runs two syncs of 2,500 operations of inst-00000, one more created between them,
/// with the list in `newest_first` order; returns the pages the second read.
async fn pages_of_a_second_read(newest_first: bool) -> (TestApp, usize) {
    let app = spawn_app().await;
    app.api.state.lock().unwrap().operations_newest_first = newest_first;
    give(&app, 0, 2_500);
    sync(&app, &[]).await;
    let before = pages_of(&app, 0);
    app.api
        .add_operation(operation(&app, 0, 9_999, "success", 3_000));
    sync(&app, &[]).await;
    let pages = pages_of(&app, 0) - before;
    (app, pages)
}

#[tokio::test]
async fn a_newest_first_list_stops_at_a_page_the_cursor_knows_and_any_other_order_is_read_whole() {
    // Act
    let (newest_first, newest_first_pages) = pages_of_a_second_read(true).await;
    let (oldest_first, oldest_first_pages) = pages_of_a_second_read(false).await;

    // Assert: the new operation is stored either way; only the order shown newest-first
    // lets the read stop early (after page 2 of 3, the first without a new operation).
    for app in [&newest_first, &oldest_first] {
        assert_eq!(
            app.count(
                "SELECT count(*) FROM ampersand.operations WHERE installation_id = 'inst-00000'"
            )
            .await,
            2_501
        );
        assert_eq!(
            app.count("SELECT count(*) FROM ampersand.operations WHERE id = 'op-0-09999'")
                .await,
            1
        );
    }
    assert_eq!(newest_first_pages, 2);
    assert_eq!(oldest_first_pages, 3);
}

#[tokio::test]
async fn an_operation_in_progress_then_failed_is_a_version_and_its_logs_are_read_once() {
    // Arrange
    let app = spawn_app().await;
    app.api
        .add_operation(operation(&app, 2, 1, "in_progress", 0));

    // Act
    sync(&app, &[]).await;
    let mut failed = operation(&app, 2, 1, "failure", 0);
    failed["result"] = json!("[contact] the provider answered 500");
    app.api.update_operation(failed);
    let mut installations = app.api.state.lock().unwrap().installations.clone();
    installations[2]["healthStatus"] = json!("unhealthy");
    app.api.set_installations(installations);
    app.api.state.lock().unwrap().operation_logs.insert(
        "op-2-00001".into(),
        json!([
            {"timestamp": "2026-11-01T10:00:01Z", "severity": "INFO", "message": {"msg": "reading contact"}},
            {"timestamp": "2026-11-01T10:00:02Z", "severity": "ERROR",
             "message": {"msg": "read failed", "error": "HTTP 500 from provider", "details": {"request": "GET /contacts"}}}
        ]),
    );
    sync(&app, &[]).await;
    sync(&app, &[]).await;

    // Assert: two versions, the second an update of the status; the logs read once.
    let versions: Vec<(String, String)> = sqlx::query_as(
        "SELECT change, status FROM ampersand.operations_history WHERE id = 'op-2-00001' ORDER BY valid_from",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        versions,
        [
            ("insert".to_string(), "in_progress".to_string()),
            ("update".to_string(), "failure".to_string())
        ]
    );
    let changed: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(changed_columns) FROM ampersand.change_log WHERE table_name = 'operations' AND change = 'update'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(changed.contains(&"status".to_string()), "{changed:?}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ampersand.operation_logs WHERE operation_id = 'op-2-00001'"
        )
        .await,
        2
    );
    let log_requests = app
        .api
        .requests()
        .iter()
        .filter(|p| p.ends_with("/operations/op-2-00001/logs"))
        .count();
    assert_eq!(log_requests, 1, "read once, not on every run");
    let last: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT installation_id, result, log_error FROM ampersand.unhealthy_installation_last_failure",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        last,
        [(
            "inst-00002".to_string(),
            Some("[contact] the provider answered 500".to_string()),
            Some("HTTP 500 from provider".to_string())
        )]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations_in_progress")
            .await,
        0
    );
}

#[tokio::test]
async fn logs_are_asked_for_only_within_the_projects_log_retention() {
    // Arrange: a retention of 7 days (served only to a request that asks for
    // entitlements), a failure of 2026-11-01 and one of an hour ago.
    let app = spawn_app().await;
    app.api.state.lock().unwrap().project["entitlements"]["logRetentionDays"] = json!({"value": 7});
    app.api.add_operation(operation(&app, 1, 1, "failure", 0));
    let mut recent = operation(&app, 1, 2, "failure", 0);
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    recent["createTime"] = json!(hour_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    app.api.add_operation(recent);

    // Act
    sync(&app, &[]).await;

    // Assert: the recent failure's logs asked for, the expired one's not.
    let asked: Vec<String> = app
        .api
        .requests()
        .into_iter()
        .filter(|p| p.ends_with("/logs"))
        .collect();
    assert_eq!(
        asked,
        [format!("/projects/{PROJECT_ID}/operations/op-1-00002/logs")]
    );
    let retention: Option<i64> = sqlx::query_scalar(
        "SELECT (entitlements -> 'logRetentionDays' ->> 'value')::bigint FROM ampersand.projects",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        retention,
        Some(7),
        "the project is read with its entitlements"
    );
}

#[tokio::test]
async fn an_operation_created_while_a_run_pages_at_the_cursors_time_is_neither_lost_nor_doubled() {
    // Arrange: 1,500 operations, the newest two created in the same second; while the
    // run reads page 1, a third is created in that second (the list shifts by one, so
    // page 2 repeats the row at the boundary).
    let app = spawn_app().await;
    give(&app, 0, 1_499);
    let mut twin = operation(&app, 0, 1_499, "success", 1_498);
    twin["id"] = json!("op-0-twin-a");
    app.api.add_operation(twin);
    let mut late = operation(&app, 0, 1_500, "success", 1_498);
    late["id"] = json!("op-0-twin-b");
    app.api.state.lock().unwrap().create_after_pages = Some((1, "inst-00000".into(), late));

    // Act
    sync(&app, &["--operation-concurrency", "1"]).await;
    let first = app
        .count("SELECT count(*) FROM ampersand.operations WHERE installation_id = 'inst-00000'")
        .await;
    sync(&app, &["--operation-concurrency", "1"]).await;

    // Assert: the repeated row stored once; the late one, at the cursor's very time
    // but with a new id, stored by the next run.
    assert_eq!(first, 1_500);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations WHERE installation_id = 'inst-00000'")
            .await,
        1_501
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations_history WHERE installation_id = 'inst-00000'")
            .await,
        1_501,
        "no row written twice"
    );
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(newest_ids) FROM ampersand.operation_cursors WHERE installation_id = 'inst-00000'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(ids, ["op-0-01498", "op-0-twin-a", "op-0-twin-b"]);
}

#[tokio::test]
async fn a_new_operation_among_a_full_page_of_known_ones_at_the_cursors_instant_is_not_skipped() {
    // Arrange: 1,000 operations in one second (a full page, every one known to the
    // cursor), 500 older ones; then 1,000 newer ones (page 1 of the next read, which
    // shows the order newest-first) and one more in that second, whose id sorts it
    // after the known ones (ties come by id): onto page 3, behind a page of known ones.
    let app = spawn_app().await;
    for n in 0..1_000 {
        app.api.add_operation(operation(&app, 0, n, "success", 100));
    }
    for n in 1_000..1_500 {
        app.api
            .add_operation(operation(&app, 0, n, "success", (n - 1_000) / 5));
    }
    sync(&app, &[]).await;
    // Since then: a burst of 1,000 newer ones (page 1), and the late one.
    for n in 2_000..3_000 {
        app.api.add_operation(operation(&app, 0, n, "success", n));
    }
    let mut late = operation(&app, 0, 0, "success", 100);
    late["id"] = json!("op-0-zzzz");
    app.api.add_operation(late);

    // Act
    sync(&app, &[]).await;

    // Assert
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations WHERE id = 'op-0-zzzz'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_cursor_state_stays_bounded_however_many_runs_read() {
    // Arrange
    let app = spawn_app().await;
    give(&app, 0, 10);

    // Act: ten runs, each after new operations.
    for round in 0..10 {
        for n in 0..3 {
            app.api.add_operation(operation(
                &app,
                0,
                100 + round * 3 + n,
                "success",
                100 + round,
            ));
        }
        sync(&app, &[]).await;
    }

    // Assert: the cursor holds only the ids of its newest second.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(newest_ids) FROM ampersand.operation_cursors WHERE installation_id = 'inst-00000'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(ids, ["op-0-00127", "op-0-00128", "op-0-00129"]);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations").await,
        40
    );
}

#[tokio::test]
async fn a_429_storm_is_waited_out_and_one_that_lasts_stops_asking_without_failing_the_run() {
    // Arrange
    let app = spawn_app().await;
    give(&app, 3, 4);
    app.api.fail(
        Route::Operations,
        Fault::problem(429, "Too Many Requests", "slow down").retry_after("0"),
        6,
    );

    // Act: a storm of six 429s, within the retries.
    let weathered = sync(&app, &["--retry-attempts", "8"]).await;

    // Assert
    assert!(
        weathered
            .stdout()
            .contains("30 installations read, 0 left, 0 failed"),
        "{}",
        weathered.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations").await,
        4
    );

    // Act: a storm that does not end.
    app.api.fail_always(
        Route::Operations,
        Fault::problem(429, "Too Many Requests", "slow down").retry_after("0"),
    );
    let before = app.api.count(Route::Operations);
    app.api
        .set_installations(crate::fixtures::installations(0..31));
    let stormed = app
        .ampsync(&[
            "sync",
            "--project",
            PROJECT_ID,
            "--retry-attempts",
            "2",
            "--operation-concurrency",
            "2",
        ])
        .await;

    // Assert: the snapshot applied and the run succeeded; asking stopped early.
    assert_eq!(stormed.code(), 0, "{}", stormed.stderr());
    assert!(
        stormed.stdout().contains("installations +1"),
        "{}",
        stormed.stdout()
    );
    assert!(stormed.stdout().contains("stopped"), "{}", stormed.stdout());
    let asked = app.api.count(Route::Operations) - before;
    assert!(asked <= 2 * 2, "{asked} requests: it kept asking");
    let runs = app.runs().await;
    assert_eq!(runs.last().unwrap().2, "succeeded");
    let status = app.ampsync(&["status"]).await;
    assert!(
        status.stdout().contains("OPERATIONS NOT READ"),
        "{}",
        status.stdout()
    );
    assert!(status.stdout().contains("429"), "{}", status.stdout());
}

#[tokio::test]
async fn a_deleted_installation_answers_404_which_fails_neither_the_run_nor_the_others() {
    // Arrange: the first installation asked about is gone by the time it is asked.
    let app = spawn_app().await;
    give(&app, 5, 2);
    app.api.fail(
        Route::Operations,
        Fault::problem(404, "Not Found", "installation not found"),
        1,
    );

    // Act
    let run = sync(&app, &["--operation-concurrency", "1"]).await;

    // Assert
    assert!(
        run.stdout()
            .contains("29 installations read, 0 left, 1 failed"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations").await,
        2
    );
    let (installation, error): (String, String) = sqlx::query_as(
        "SELECT installation_id, last_error FROM ampersand.operation_cursors WHERE last_error IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(installation, "inst-00000");
    assert!(error.contains("404") && error.contains("gone"), "{error}");
    let status = app.ampsync(&["status"]).await;
    assert_eq!(
        status.code(),
        0,
        "a failed operations read is not a failed run"
    );
    assert!(
        status.stdout().contains("inst-00000"),
        "{}",
        status.stdout()
    );
    let json: Value =
        serde_json::from_str(&app.ampsync(&["status", "--json"]).await.stdout()).unwrap();
    assert_eq!(json["operation_failures_total"], 1);

    // Act: the next run reads it (the fault is gone), and the error clears.
    sync(&app, &[]).await;
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operation_cursors WHERE last_error IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn the_budget_caps_each_run_and_the_rotation_reaches_every_installation_and_the_changed_first(
) {
    // Arrange
    let app = spawn_app().await;
    let budget = ["--max-operation-requests", "8", "--operation-logs", "off"];

    // Act: 30 installations, 8 requests a run.
    let mut sent = Vec::new();
    for _ in 0..4 {
        let before = app.api.count(Route::Operations);
        sync(&app, &budget).await;
        sent.push(app.api.count(Route::Operations) - before);
    }

    // Assert: never over the budget; every installation read within ceil(30 / 8) runs.
    assert_eq!(sent, [8, 8, 8, 8]);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ampersand.operation_cursors WHERE last_read_at IS NOT NULL"
        )
        .await,
        30
    );
    let first = summary(&app, 1).await;
    assert_eq!(first["installations_read"], 8);
    assert_eq!(first["installations_left"], 22);
    assert_eq!(first["requests"], 8);

    // Act: one installation turns unhealthy; the next run reads it first.
    let mut installations = app.api.state.lock().unwrap().installations.clone();
    installations[29]["healthStatus"] = json!("unhealthy");
    app.api.set_installations(installations);
    let before = app.api.requests().len();
    sync(&app, &budget).await;

    // Assert
    let asked: Vec<String> = app.api.requests()[before..]
        .iter()
        .filter(|p| p.contains("/operations"))
        .cloned()
        .collect();
    assert_eq!(asked.len(), 8);
    assert!(asked.iter().any(|p| p.contains("inst-00029")), "{asked:?}");
}

#[tokio::test]
async fn a_changed_installation_is_read_before_those_never_read() {
    // Arrange: 30 installations, 4 requests a run; the first run reads four of them.
    let app = spawn_app().await;
    let budget = ["--max-operation-requests", "4", "--operation-logs", "off"];
    sync(&app, &budget).await;
    let read: Vec<String> =
        sqlx::query_scalar("SELECT installation_id FROM ampersand.operation_cursors ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        read,
        ["inst-00000", "inst-00001", "inst-00002", "inst-00003"]
    );

    // Act: inst-00000 fails and turns unhealthy while 26 have never been read.
    app.api.add_operation(operation(&app, 0, 1, "failure", 0));
    let mut installations = app.api.state.lock().unwrap().installations.clone();
    installations[0]["healthStatus"] = json!("unhealthy");
    app.api.set_installations(installations);
    sync(&app, &budget).await;

    // Assert: its failure is stored by the very next run.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations WHERE id = 'op-0-00001'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_secret_in_a_result_metadata_or_log_is_stored_nowhere() {
    // Arrange
    let app = spawn_app().await;
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let refresh = "1//0gLt9Z8kQm3vXpR4sTfHwYbN7cJeUaDo2iKl5MnOqPr6StUvWxYz";
    let mut op = operation(&app, 4, 1, "failure", 0);
    op["result"] = json!(format!("401 from provider: Authorization: Bearer {jwt}"));
    op["metadata"]["refreshToken"] = json!(refresh);
    op["debugAccessToken"] = json!("ya29.a0AfH6SMBx3-secret-access-token-value");
    app.api.add_operation(op);
    app.api.state.lock().unwrap().operation_logs.insert(
        "op-4-00001".into(),
        json!([{"timestamp": "2026-11-01T10:00:02Z", "severity": "ERROR",
                "message": {"msg": format!("refresh with {jwt} failed"), "error": format!("invalid_grant: Bearer {jwt}"),
                            "details": {"refresh_token": refresh}}}]),
    );

    // Act
    let run = sync(&app, &[]).await;

    // Assert
    let secrets = [
        jwt.to_string(),
        refresh.to_string(),
        "ya29.a0AfH6SMBx3-secret-access-token-value".to_string(),
    ];
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operation_logs")
            .await,
        1
    );
    assert_holds_no_secret("the database", &app.dump().await, &secrets);
    assert_holds_no_secret("stdout", &run.stdout(), &secrets);
    assert_holds_no_secret("stderr", &run.stderr(), &secrets);
    let result: String =
        sqlx::query_scalar("SELECT result FROM ampersand.operations WHERE id = 'op-4-00001'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(result.starts_with("401 from provider"), "{result}");
}

#[tokio::test]
async fn operations_off_asks_nothing_and_a_dry_run_reads_none() {
    let app = spawn_app().await;
    give(&app, 0, 3);

    sync(&app, &["--operations", "off"]).await;
    sync(&app, &["--dry-run"]).await;

    assert_eq!(app.api.count(Route::Operations), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations").await,
        0
    );
}

#[tokio::test]
async fn archived_operations_import_with_history_export_leaves_them_out_and_prune_trims_them() {
    // Arrange, Act: the samples, whose week-2 operations finish week 1's in progress.
    let app = spawn_app().await;
    import_samples(&app).await;

    // Assert
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations").await,
        363
    );
    let finished: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.status, h.status FROM ampersand.operations_history AS h
         JOIN ampersand.operations_history AS p ON p.id = h.id AND p.valid_to = h.valid_from
         WHERE h.change = 'update' ORDER BY h.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(finished.iter().all(|(before, _)| before == "in_progress"));
    let redacted = app
        .count("SELECT count(*) FROM ampersand.operations WHERE result LIKE '%Bearer [redacted]%'")
        .await;
    assert!(redacted > 0);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations WHERE result LIKE '%FAKE-eyJ%'")
            .await,
        0
    );

    // Act: export, then prune the history older than a day (the samples are of November).
    let export = app
        .ampsync(&["export", "--project", "proj-7c1e2a90"])
        .await
        .success();
    sqlx::query(
        "INSERT INTO ampersand.operation_logs (project_id, operation_id, entry_hash, logged_at, first_seen_at, sync_run_id)
         SELECT project_id, id, 'h1', '2026-11-07T20:00:00Z', '2026-11-08T00:00:00Z', 2
         FROM ampersand.operations WHERE status = 'failure' LIMIT 1",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let prune = app
        .ampsync(&[
            "prune",
            "--older-than",
            "1d",
            "--history",
            "--project",
            "proj-7c1e2a90",
        ])
        .await
        .success();

    // Assert
    assert!(
        !export.stdout().contains("\"actionType\""),
        "no operation in the export"
    );
    assert!(
        export
            .stderr()
            .contains("operations and their logs are not part of the export"),
        "{}",
        export.stderr()
    );
    assert!(
        prune.stdout().contains("operations 2"),
        "{}",
        prune.stdout()
    );
    assert!(
        prune.stdout().contains("1 operation log entries"),
        "{}",
        prune.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operations_history")
            .await,
        363
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.operation_logs")
            .await,
        0
    );
}
