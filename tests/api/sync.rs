//! The data path of `ampsync sync`, against a real Postgres and the fake API; and the
//! rule for copies of one object that disagree (the latest `updateTime` wins, the log
//! says so, and an installation's winning copy decides its config).

use serde_json::{json, Value};

use crate::fixtures::{self, installation, installations, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, Fault, TABLES};

#[tokio::test]
async fn a_first_sync_fills_every_table_with_exactly_the_distinct_objects_of_the_payload() {
    // Arrange: 30 installations over 15 connections, 7 groups, 5 consumers, 2 apps.
    let app = spawn_app().await;

    // Act
    let run = app.sync().await;

    // Assert
    let expected = [
        ("projects", 1),
        ("integrations", 4),
        ("groups", 7),
        ("consumers", 5),
        ("provider_apps", 2),
        ("connections", 15),
        ("configs", 30),
        ("installations", 30),
    ];
    for (table, rows) in expected {
        let live = app
            .count(&format!(
                "SELECT count(*) FROM ampersand.{table} WHERE deleted_at IS NULL"
            ))
            .await;
        let history = app
            .count(&format!(
                "SELECT count(*) FROM ampersand.{table}_history WHERE change = 'insert'"
            ))
            .await;
        assert_eq!((live, history), (rows, rows), "{table}");
    }
    assert!(
        run.stdout().contains("installations +30"),
        "{}",
        run.stdout()
    );
    let (status, counts): (String, Value) =
        sqlx::query_as("SELECT status, counts FROM ampersand.sync_runs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert_eq!(counts["connections"]["inserted"], 15);

    // References and typed columns are filled as the product promises.
    let (conn, group, config, kind, by_ref): (String, String, String, String, String) = sqlx::query_as(
        "SELECT connection_id, group_ref, config_id, created_by_kind, created_by_ref FROM ampersand.installations WHERE id = 'inst-00003'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (conn.as_str(), group.as_str(), config.as_str()),
        ("conn-00001", "grp-1", "cfg-00003")
    );
    assert_eq!((kind.as_str(), by_ref.as_str()), ("consumer", "user-1"));
    let (scopes, has_access, has_api_key, expires): (
        Vec<String>,
        bool,
        bool,
        chrono::DateTime<chrono::Utc>,
    ) = sqlx::query_as(
        "SELECT p.scopes, c.has_access_token, c.has_api_key, c.access_token_expires_at
             FROM ampersand.connections c JOIN ampersand.provider_apps p ON p.id = c.provider_app_id
             WHERE c.id = 'conn-00001'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(scopes, ["api", "refresh_token", "offline_access"]);
    assert!(has_access && has_api_key);
    assert_eq!(expires.to_rfc3339(), "2024-10-22T18:55:28.456076+00:00");
}

#[tokio::test]
async fn the_same_snapshot_again_writes_no_row_and_adds_no_history() {
    let app = spawn_app().await;
    app.sync().await;
    let before = app.fingerprint().await;
    let xmins: Vec<String> =
        sqlx::query_scalar("SELECT xmin::text FROM ampersand.installations ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();

    let run = app.sync().await;

    assert_eq!(app.fingerprint().await, before);
    let after: Vec<String> =
        sqlx::query_scalar("SELECT xmin::text FROM ampersand.installations ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(after, xmins, "no installation row was rewritten");
    let (inserted, updated, deleted): (i64, i64, i64) = sqlx::query_as(
        "SELECT rows_inserted, rows_updated, rows_deleted FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((inserted, updated, deleted), (0, 0, 0));
    assert!(run.stdout().contains("no changes"), "{}", run.stdout());
}

#[tokio::test]
async fn a_later_snapshot_yields_exactly_its_updates_soft_deletes_and_inserts_and_as_of_returns_the_earlier_state(
) {
    // Arrange: 30 installations, then 28..33 changed: 0 and 1 gone, 2 unhealthy, 30..32 new.
    let app = spawn_app().await;
    app.sync().await;
    let first_observed: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT observed_at FROM ampersand.sync_runs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut next = installations(2..33);
    next[0]["healthStatus"] = json!("unhealthy");
    app.api.set_installations(next);

    // Act
    app.sync().await;

    // Assert: the change log has exactly these installation changes from the second run.
    let changes: Vec<(String, String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT key, change, changed_columns FROM ampersand.change_log
         WHERE table_name = 'installations' AND sync_run_id = 2 ORDER BY key",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected: Vec<(String, String, Option<Vec<String>>)> = vec![
        ("inst-00000".into(), "delete".into(), None),
        ("inst-00001".into(), "delete".into(), None),
        (
            "inst-00002".into(),
            "update".into(),
            Some(vec!["health_status".into()]),
        ),
        ("inst-00030".into(), "insert".into(), None),
        ("inst-00031".into(), "insert".into(), None),
        ("inst-00032".into(), "insert".into(), None),
    ];
    assert_eq!(changes, expected);
    // Connection 0 served only installations 0 and 1: it is gone; connection 16 is new.
    let conn_changes: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, change FROM ampersand.change_log WHERE table_name = 'connections' AND sync_run_id = 2 ORDER BY key",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        conn_changes,
        [
            ("conn-00000".to_string(), "delete".to_string()),
            ("conn-00015".into(), "insert".into()),
            ("conn-00016".into(), "insert".into())
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NOT NULL")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
            .await,
        31
    );

    // As of the first run, the earlier state: 30 installations, inst-00002 healthy.
    let then: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, health_status FROM ampersand.installations_as_of($1) ORDER BY id",
    )
    .bind(first_observed)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(then.len(), 30);
    assert_eq!(then[0].0, "inst-00000");
    assert_eq!(then[2], ("inst-00002".to_string(), "healthy".to_string()));
    let now = app
        .count("SELECT count(*) FROM ampersand.installations_as_of(now())")
        .await;
    assert_eq!(now, 31, "tombstones are not returned by as-of");
}

#[tokio::test]
async fn a_removed_installation_that_comes_back_is_restored_with_a_new_version() {
    let app = spawn_app().await;
    app.sync().await;
    app.api.set_installations(installations(0..29));
    app.sync().await;
    app.api.set_installations(installations(0..30));

    app.sync().await;

    let deleted: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT deleted_at FROM ampersand.installations WHERE id = 'inst-00029'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(deleted.is_none(), "the installation is live again");
    let first_seen_in_run_1: bool = sqlx::query_scalar(
        "SELECT i.first_seen_at = r.observed_at
         FROM ampersand.installations AS i, ampersand.sync_runs AS r
         WHERE i.id = 'inst-00029' AND r.id = 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        first_seen_in_run_1,
        "a restored row keeps when it was first seen"
    );
    let versions: Vec<(String, i64, bool)> = sqlx::query_as(
        "SELECT change, sync_run_id, valid_to IS NULL FROM ampersand.installations_history
         WHERE id = 'inst-00029' ORDER BY valid_from",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        versions,
        [
            ("insert".to_string(), 1, false),
            ("delete".to_string(), 2, false),
            ("insert".to_string(), 3, true)
        ]
    );
}

#[tokio::test]
async fn a_group_sync_never_deletes_outside_that_group() {
    // Arrange: a full sync, then the source loses every installation.
    let app = spawn_app().await;
    app.sync().await;
    let outside_before = app
        .count("SELECT count(*) FROM ampersand.installations WHERE group_ref <> 'grp-1' AND deleted_at IS NULL")
        .await;
    let kept_in_group: Vec<Value> = installations(0..30)
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["group"]["groupRef"] == "grp-1")
        .skip(1)
        .cloned()
        .collect();
    let in_group = kept_in_group.len() as i64 + 1;
    app.api.set_installations(Value::Array(kept_in_group));

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--group-ref", "grp-1"])
        .await
        .success();

    // Assert: one installation of grp-1 deleted, none elsewhere; the request was filtered.
    assert!(app
        .api
        .requests()
        .iter()
        .any(|r| r.ends_with("installations?groupRef=grp-1")));
    let outside_after = app
        .count("SELECT count(*) FROM ampersand.installations WHERE group_ref <> 'grp-1' AND deleted_at IS NULL")
        .await;
    assert_eq!(outside_after, outside_before);
    let deleted = app
        .count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NOT NULL")
        .await;
    assert_eq!(deleted, 1, "{}", run.stdout());
    assert_eq!(app.count("SELECT count(*) FROM ampersand.installations WHERE group_ref = 'grp-1' AND deleted_at IS NULL").await, in_group - 1);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.consumers WHERE deleted_at IS NOT NULL")
            .await,
        0
    );
    let group_ref: Option<String> =
        sqlx::query_scalar("SELECT group_ref FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(group_ref.as_deref(), Some("grp-1"));
}

#[tokio::test]
async fn the_mass_delete_guard_trips_on_an_empty_response_and_allow_mass_delete_lets_it_through() {
    let app = spawn_app().await;
    app.sync().await;
    let before = app.fingerprint().await;
    app.api.set_installations(json!([]));

    let refused = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains("refusing to delete 30 of the 30 live installations"),
        "{}",
        refused.stderr()
    );
    assert!(refused.stderr().contains("--allow-mass-delete"));
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    let status: String =
        sqlx::query_scalar("SELECT status FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");

    app.ampsync(&["sync", "--project", PROJECT_ID, "--allow-mass-delete"])
        .await
        .success();
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn a_change_only_to_token_expiry_adds_no_version_but_updates_the_current_row() {
    let app = spawn_app().await;
    app.sync().await;
    let history_before = app
        .count("SELECT count(*) FROM ampersand.connections_history")
        .await;
    let mut refreshed = installations(0..30);
    for inst in refreshed.as_array_mut().unwrap() {
        let tokens = &mut inst["connection"]["oauth2AuthorizationCode"]["accessToken"];
        tokens["token"] = json!("refreshed-token-value-abc123");
        tokens["issuedAt"] = json!("2024-10-22T18:55:28Z");
        tokens["expiresAt"] = json!("2025-04-22T18:55:28Z");
    }
    app.api.set_installations(refreshed);

    let run = app.sync().await;

    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections_history")
            .await,
        history_before
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE access_token_expires_at = '2025-04-22T18:55:28Z'").await,
        15
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.change_log WHERE sync_run_id = 2")
            .await,
        0
    );
    assert!(
        run.stdout().contains("tokens refreshed 15"),
        "{}",
        run.stdout()
    );
}

#[tokio::test]
async fn disagreeing_copies_of_one_connection_resolve_to_the_latest_update_time_whatever_the_order()
{
    // Installations 0 and 1 share conn-00000; give installation 1 a newer copy.
    let mut payload = installations(0..4);
    payload[1]["connection"]["status"] = json!("bad_credentials");
    payload[1]["connection"]["updateTime"] = json!("2025-01-01T00:00:00Z");
    let app = spawn_app_with(payload.clone()).await;
    let run = app.sync().await;
    let mut reversed = payload.as_array().unwrap().clone();
    reversed.reverse();
    let app2 = spawn_app_with(Value::Array(reversed)).await;
    app2.sync().await;

    for app in [&app, &app2] {
        let status: String =
            sqlx::query_scalar("SELECT status FROM ampersand.connections WHERE id = 'conn-00000'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(status, "bad_credentials");
    }
    assert!(
        run.stderr().contains("copies of one key disagreed"),
        "{}",
        run.stderr()
    );
}

#[tokio::test]
async fn unknown_fields_enum_values_and_nulls_are_kept_not_fatal() {
    let mut inst = installation(0);
    inst["healthStatus"] = json!("degraded");
    inst["lastOperationStatus"] = Value::Null;
    inst["group"] = Value::Null;
    inst["newField"] = json!({"nested": [1, 2]});
    inst["updateTime"] = json!("2024-02-01T09:00:00+01:00");
    inst["connection"]["providerApp"]["scopes"] = json!(["a", "b"]);
    let app = spawn_app_with(json!([inst])).await;

    app.sync().await;

    let (health, extra, update): (String, Value, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT health_status, extra, update_time FROM ampersand.installations")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(health, "degraded");
    assert_eq!(extra, json!({"newField": {"nested": [1, 2]}}));
    assert_eq!(update.to_rfc3339(), "2024-02-01T08:00:00+00:00");
    let group: Option<String> = sqlx::query_scalar("SELECT group_ref FROM ampersand.installations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        group.as_deref(),
        Some("grp-0"),
        "taken from the connection's group"
    );
}

#[tokio::test]
async fn a_dry_run_prints_what_would_change_and_writes_nothing() {
    let app = spawn_app().await;
    app.sync().await;
    app.api.set_installations(installations(1..31));
    let before = app.fingerprint().await;

    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--dry-run"])
        .await
        .success();

    assert!(run.stdout().contains("would apply"), "{}", run.stdout());
    assert!(
        run.stdout().contains("installations +1 ~0 -1"),
        "{}",
        run.stdout()
    );
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.sync_runs").await,
        1
    );
}

#[tokio::test]
async fn several_projects_sync_in_one_run_and_a_failing_one_does_not_stop_the_others() {
    let app = spawn_app().await;

    let run = app
        .ampsync(&[
            "sync",
            "--project",
            "no-such-project",
            "--project",
            fixtures::PROJECT_NAME,
        ])
        .await;

    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("project no-such-project not found"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
}

#[tokio::test]
async fn api_errors_surface_as_a_message_built_from_the_problem_body() {
    let app = spawn_app().await;
    app.api.push_fault(Fault::problem(
        422,
        "Unprocessable Entity",
        "groupRef must not be empty",
    ));

    let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    assert_eq!(run.code(), 1);
    let err = run.stderr();
    assert!(err.contains("422"), "{err}");
    assert!(
        err.contains("Unprocessable Entity: groupRef must not be empty"),
        "{err}"
    );
    assert!(err.contains(PROJECT_ID), "{err}");
}

#[tokio::test]
async fn every_table_has_its_history_and_as_of_function() {
    let app = spawn_app().await;
    app.sync().await;
    for table in TABLES {
        let n = app
            .count(&format!(
                "SELECT count(*) FROM ampersand.{table}_as_of(now())"
            ))
            .await;
        let live = app
            .count(&format!("SELECT count(*) FROM ampersand.{table}"))
            .await;
        assert_eq!(n, live, "{table}");
    }
}

#[tokio::test]
async fn numbers_in_free_form_json_are_stored_exactly_to_the_last_digit() {
    // Arrange: a decimal with 17 significant digits (an f64 holds it 1 ULP off) and an
    // integer past 2^64, in config content, extra, provider metadata and app metadata.
    let exact = ["9875133.537942737", "123456789012345678901234567890"];
    let numbers = format!(r#"{{"precise": {}, "huge": {}}}"#, exact[0], exact[1]);
    let mut payload = installations(0..2);
    let first = &mut payload.as_array_mut().unwrap()[0];
    first["config"]["content"]["limits"] = json!("@");
    first["quota"] = json!("@");
    first["connection"]["providerMetadata"]["limits"] = json!("@");
    first["connection"]["providerApp"]["metadata"]["limits"] = json!("@");
    let text = payload.to_string().replace(r#""@""#, &numbers);
    let app = spawn_app_with(serde_json::from_str(&text).unwrap()).await;

    // Act
    app.sync().await;

    // Assert
    let stored: Vec<(String, String)> = sqlx::query_as(
        "SELECT v ->> 'precise', v ->> 'huge' FROM (
             SELECT content -> 'limits' FROM ampersand.configs WHERE id = 'cfg-00000'
             UNION ALL SELECT extra -> 'quota' FROM ampersand.installations WHERE id = 'inst-00000'
             UNION ALL SELECT provider_metadata -> 'limits' FROM ampersand.connections WHERE id = 'conn-00000'
             UNION ALL SELECT metadata -> 'limits' FROM ampersand.provider_apps WHERE metadata ? 'limits'
         ) AS s(v)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected = (exact[0].to_owned(), exact[1].to_owned());
    assert_eq!(stored, vec![expected; 4]);

    // And the same response again is no change: the numbers hash as they are.
    let again = app.sync().await;
    assert!(again.stdout().contains("no changes"), "{}", again.stdout());
}

#[tokio::test]
async fn duplicate_installation_ids_and_disagreeing_copies_of_a_connection_follow_the_rule_and_the_log_says_so(
) {
    // Arrange: inst-00004 twice (the later copy second in the response), and the two
    // copies of conn-00003 (in inst-00006 and inst-00007) disagree.
    let mut payload = installations(0..10);
    let list = payload.as_array_mut().unwrap();
    let mut newer = installation(4);
    newer["healthStatus"] = json!("degraded");
    newer["updateTime"] = json!("2024-06-01T00:00:00Z");
    list.insert(0, newer);
    list[8]["connection"]["status"] = json!("broken");
    list[8]["connection"]["updateTime"] = json!("2024-06-01T00:00:00Z");
    assert_eq!(list[8]["id"], "inst-00007");
    let app = spawn_app_with(payload).await;

    // Act
    let run = app.sync().await;

    // Assert: the later updateTime wins, and the log says what happened.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE id = 'inst-00004' AND health_status = 'degraded'").await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE id = 'conn-00003' AND status = 'broken'").await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        10
    );
    let duplicates = run.logged(
        "installation ids appeared more than once; the copy with the latest updateTime was kept",
    );
    assert_eq!(duplicates.len(), 1, "{}", run.stderr());
    assert_eq!(duplicates[0]["count"], 1);
    let conflicts = run.logged("copies of one key disagreed; kept the one with the latest updateTime (then the greatest row hash)");
    assert!(
        conflicts
            .iter()
            .any(|l| l["table"] == "connections" && l["keys"] == 1),
        "{}",
        run.stderr()
    );
}

#[tokio::test]
async fn the_copy_that_wins_an_installation_decides_its_config_whichever_config_hashes_greater() {
    // Two copies of inst-00004: the later one (by updateTime) carries one revision of
    // its config, the earlier one another. Configs have no updateTime of their own;
    // each content is tried on each side, so a rule that fell back to the config's own
    // row hash would pick the stale one in one of the two rounds.
    for (fresh, stale) in [
        ("rev-fresh-a", "rev-stale-b"),
        ("rev-stale-b", "rev-fresh-a"),
    ] {
        // Arrange
        let mut payload = installations(0..6);
        let list = payload.as_array_mut().unwrap();
        let mut newer = installation(4);
        newer["healthStatus"] = json!("degraded");
        newer["updateTime"] = json!("2024-06-01T00:00:00Z");
        newer["config"]["revisionId"] = json!(fresh);
        newer["config"]["content"]["proxy"] = json!({"enabled": false, "rev": fresh});
        list[4]["config"]["revisionId"] = json!(stale);
        list[4]["config"]["content"]["proxy"] = json!({"enabled": true, "rev": stale});
        list.push(newer);
        let app = spawn_app_with(payload).await;

        // Act
        app.sync().await;

        // Assert: installation and config both come from the later copy.
        let stored: (String, String, Value) = sqlx::query_as(
            "SELECT i.health_status, c.revision_id, c.content -> 'proxy'
             FROM ampersand.installations AS i JOIN ampersand.configs AS c ON c.id = i.config_id
             WHERE i.id = 'inst-00004'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            stored,
            (
                "degraded".to_owned(),
                fresh.to_owned(),
                json!({"enabled": false, "rev": fresh})
            ),
            "fresh revision {fresh}"
        );
    }
}
