//! The connections and provider-apps lists: what no installation embeds still arrives,
//! goes when the list drops it, and is never deleted by a run that could not read the
//! list (403, 404); a group sync stays in its group; secrets stay out; import reads the
//! lists from files.

use serde_json::{json, Value};

use crate::fixtures::{
    embedded_connections, installations, lone_connection, provider_app, secrets_in, PROJECT_ID,
};
use crate::helpers::{spawn_app, spawn_app_with, Fault, Route, TestApp, API_KEY};

/// The fixture's connections plus `lone`, as the connections list.
fn listed(app: &TestApp, lone: &[Value]) -> Value {
    let installations = app.api.state.lock().unwrap().installations.clone();
    let mut all = embedded_connections(&installations);
    all.extend(lone.iter().cloned());
    Value::Array(all)
}

/// `deleted_at IS NULL` of each named row: Some(true) live, Some(false) deleted, None absent.
async fn live(app: &TestApp, sql: &str, key: &str) -> Option<bool> {
    sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

const CONNECTION: &str = "SELECT deleted_at IS NULL FROM ampersand.connections WHERE id = $1";
const GROUP: &str = "SELECT deleted_at IS NULL FROM ampersand.groups WHERE group_ref = $1";
const CONSUMER: &str = "SELECT deleted_at IS NULL FROM ampersand.consumers WHERE consumer_ref = $1";
const PROVIDER_APP: &str = "SELECT deleted_at IS NULL FROM ampersand.provider_apps WHERE id = $1";

#[tokio::test]
async fn a_connection_no_installation_uses_appears_then_is_soft_deleted_when_the_list_drops_it() {
    // Arrange
    let app = spawn_app().await;
    let lone = lone_connection(1, "grp-lone-1");
    app.api.set_connections(listed(&app, &[lone]));

    // Act
    let first = app.sync().await;

    // Assert: the connection, its group, consumer and provider app, all from the list.
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(true));
    assert_eq!(live(&app, GROUP, "grp-lone-1").await, Some(true));
    assert_eq!(live(&app, CONSUMER, "user-lone-1").await, Some(true));
    assert_eq!(live(&app, PROVIDER_APP, "papp-pipedrive").await, Some(true));
    assert!(
        first.stdout().contains("connections +16"),
        "{}",
        first.stdout()
    );
    let (status, extra): (Option<String>, Value) = sqlx::query_as(
        "SELECT status, extra FROM ampersand.connections WHERE id = 'conn-lone-001'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status.as_deref(), Some("some-future-status"));
    assert_eq!(extra["futureField"], json!({"lifecycle": "onboarding"}));
    let funnel: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT group_ref, installed, connected_not_installed FROM ampersand.connection_funnel
         WHERE connected_not_installed > 0",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(funnel, [("grp-lone-1".to_string(), 0, 1)]);

    // Act: the list no longer has it.
    app.api.set_connections(listed(&app, &[]));
    let second = app.sync().await;

    // Assert: soft-deleted, with a tombstone; what only it brought goes with it.
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(false));
    assert_eq!(live(&app, GROUP, "grp-lone-1").await, Some(false));
    assert_eq!(live(&app, CONSUMER, "user-lone-1").await, Some(false));
    assert_eq!(
        live(&app, PROVIDER_APP, "papp-pipedrive").await,
        Some(false)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections_history WHERE id = 'conn-lone-001' AND change = 'delete'")
            .await,
        1
    );
    assert!(
        second.stdout().contains("connections +0 ~0 -1"),
        "{}",
        second.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE deleted_at IS NULL")
            .await,
        15
    );
}

#[tokio::test]
async fn a_403_or_404_on_the_lists_fails_nothing_deletes_nothing_only_they_showed_and_is_recorded()
{
    // Arrange: a first sync sees a lone connection and an extra provider app.
    let app = spawn_app().await;
    app.api
        .set_connections(listed(&app, &[lone_connection(1, "grp-lone-1")]));
    app.api
        .set_provider_apps(json!([provider_app("salesforce"), provider_app("zoho")]));
    app.sync().await;
    assert_eq!(live(&app, PROVIDER_APP, "papp-zoho").await, Some(true));

    // Act: the key loses the lists (403, with the key echoed in the problem) and
    // installations 28 and 29 (connection 14) go.
    let detail = format!("key {API_KEY} lacks connections:read");
    app.api.fail_always(
        Route::Connections,
        Fault::problem(403, "Forbidden", &detail),
    );
    app.api.fail_always(
        Route::ProviderApps,
        Fault::problem(404, "Not Found", "no such route"),
    );
    app.api.set_installations(installations(0..28));
    let run = app.sync().await;

    // Assert: what installations showed follows them; what only a list showed stays.
    assert_eq!(live(&app, CONNECTION, "conn-00014").await, Some(false));
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(true));
    assert_eq!(live(&app, GROUP, "grp-lone-1").await, Some(true));
    assert_eq!(live(&app, CONSUMER, "user-lone-1").await, Some(true));
    assert_eq!(live(&app, PROVIDER_APP, "papp-pipedrive").await, Some(true));
    assert_eq!(live(&app, PROVIDER_APP, "papp-zoho").await, Some(true));
    let recorded: Value = sqlx::query_scalar(
        "SELECT lists_unavailable FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let connections = recorded["connections"].as_str().unwrap();
    assert!(
        connections.contains("/connections answered 403 Forbidden")
            && connections.contains("lacks connections:read"),
        "{recorded}"
    );
    assert!(
        recorded["provider_apps"]
            .as_str()
            .unwrap()
            .contains("/provider-apps answered 404 Not Found"),
        "{recorded}"
    );
    assert!(
        run.stdout().contains("connections list unavailable"),
        "{}",
        run.stdout()
    );
    let warned =
        run.logged("list unavailable; only rows that live installations reach may be deleted");
    assert_eq!(warned.len(), 2, "{}", run.stderr());
    let everything = format!("{}{}{}", run.stdout(), run.stderr(), app.dump().await);
    assert!(
        !everything.contains(API_KEY),
        "the key echoed in a 403 leaked"
    );

    // Act: the lists come back without the lone connection: now it goes.
    app.api.state.lock().unwrap().clear_faults();
    app.api.set_connections(listed(&app, &[]));
    app.sync().await;

    // Assert
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(false));
    assert_eq!(live(&app, PROVIDER_APP, "papp-zoho").await, Some(true));
}

#[tokio::test]
async fn a_5xx_or_a_bad_body_on_a_list_fails_the_run_like_any_endpoint() {
    // Arrange
    let app = spawn_app().await;
    app.api.fail_always(
        Route::ProviderApps,
        Fault::problem(503, "Unavailable", "down"),
    );

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPSYNC_RETRY_ATTEMPTS", "2")],
        )
        .await;

    // Assert
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("/provider-apps"), "{}", run.stderr());
    assert_eq!(app.api.count(Route::ProviderApps), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );

    // Arrange: a body that is not an array.
    let app = spawn_app().await;
    app.api.fail(
        Route::Connections,
        Fault::body(200, "application/json", "{\"items\": []}"),
        1,
    );

    // Act
    let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("/connections"), "{}", run.stderr());
}

#[tokio::test]
async fn a_group_sync_reads_its_groups_connections_and_deletes_only_inside_that_group() {
    // Arrange: lone connections in two fixture groups.
    let app = spawn_app().await;
    let (one, two) = (lone_connection(1, "grp-1"), lone_connection(2, "grp-2"));
    app.api.set_connections(listed(&app, &[one, two]));
    app.sync().await;

    // Act: both leave the list; a sync of grp-1 only.
    app.api.set_connections(listed(&app, &[]));
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--group-ref", "grp-1"])
        .await
        .success();

    // Assert: it asked for grp-1's connections and deleted only grp-1's lone one; the
    // consumer and provider app, which groups share, wait for a full sync.
    assert!(
        app.api.requests().contains(&format!(
            "/projects/{PROJECT_ID}/connections?groupRef=grp-1"
        )),
        "{:?}",
        app.api.requests()
    );
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(false));
    assert_eq!(live(&app, CONNECTION, "conn-lone-002").await, Some(true));
    assert_eq!(live(&app, CONSUMER, "user-lone-1").await, Some(true));
    assert_eq!(live(&app, PROVIDER_APP, "papp-pipedrive").await, Some(true));
    assert!(
        run.stdout().contains("connections +0 ~0 -1"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE deleted_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn secrets_in_the_lists_reach_no_table_history_rejected_record_or_log_line() {
    // Arrange: tokens, API keys and client secrets in listed connections and provider
    // apps, and a listed connection that is rejected (its id is a number).
    let payload = installations(0..6);
    let app = spawn_app_with(payload.clone()).await;
    let mut rejected = lone_connection(9, "grp-lone-9");
    rejected["id"] = json!(404);
    let lone = [lone_connection(1, "grp-lone-1"), rejected];
    let connections = listed(&app, &lone);
    let apps = json!([provider_app("salesforce"), provider_app("zoho")]);
    app.api.set_connections(connections.clone());
    app.api.set_provider_apps(apps.clone());
    let mut secrets = secrets_in(&connections);
    secrets.extend(secrets_in(&apps));
    secrets.push(API_KEY.to_string());
    assert!(
        secrets.iter().any(|s| s.starts_with("cs2_zoho"))
            && secrets.iter().any(|s| s.starts_with("pd_live_009")),
        "{secrets:?}"
    );

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "-vv"])
        .await
        .success();

    // Assert: the rejected record is kept, scrubbed; the flags say what was there.
    let (source, payload): (String, Value) =
        sqlx::query_as("SELECT source, payload FROM ampersand.rejected_records")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(source, "connections");
    assert_eq!(payload["provider"], "pipedrive");
    let flags: (bool, bool, bool) = sqlx::query_as(
        "SELECT has_access_token, has_refresh_token, has_api_key FROM ampersand.connections WHERE id = 'conn-lone-001'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(flags, (true, true, true));
    let zoho: (Option<String>, Value, Value) = sqlx::query_as(
        "SELECT client_id, metadata, extra FROM ampersand.provider_apps WHERE id = 'papp-zoho'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(zoho.0.as_deref(), Some("zoho-client-7d1e"));
    assert_eq!(zoho.2, json!({"newTier": "enterprise-plus"}));
    let everything = format!("{}{}{}", run.stdout(), run.stderr(), app.dump().await);
    for secret in &secrets {
        assert!(!everything.contains(secret.as_str()), "{secret} leaked");
    }
}

#[tokio::test]
async fn import_takes_the_lists_from_files_one_per_snapshot() {
    // Arrange: two snapshots; the lone connection is listed in the first only.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let inst = installations(0..10);
    let mut day1 = embedded_connections(&inst);
    day1.push(lone_connection(1, "grp-lone-1"));
    let day2 = embedded_connections(&inst);
    let files = [
        write("inst1.json", &inst),
        write("inst2.json", &inst),
        write("conn1.json", &Value::Array(day1)),
        write("conn2.json", &Value::Array(day2)),
        write("apps.json", &json!([provider_app("zoho")])),
    ];

    // Act
    let run = app
        .ampsync(&[
            "import",
            &files[0],
            &files[1],
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-01T00:00:00Z",
            "--observed-at",
            "2026-11-08T00:00:00Z",
            "--connections-file",
            &files[2],
            "--connections-file",
            &files[3],
            "--provider-apps-file",
            &files[4],
        ])
        .await
        .success();

    // Assert: listed on 1 November, gone on 8 November; the provider app in both.
    let lines: Vec<String> = run.stdout().lines().map(str::to_owned).collect();
    assert!(lines[0].contains("connections +6"), "{lines:?}");
    assert!(lines[1].contains("connections +0 ~0 -1"), "{lines:?}");
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(false));
    assert_eq!(live(&app, PROVIDER_APP, "papp-zoho").await, Some(true));
    let as_of: i64 = app
        .count("SELECT count(*) FROM ampersand.connections_as_of('2026-11-02T00:00:00Z') WHERE id = 'conn-lone-001'")
        .await;
    assert_eq!(as_of, 1);

    // Act: a count of list files that fits neither one nor one per file.
    let third = write("inst3.json", &inst);
    let refused = app
        .ampsync(&[
            "import",
            &third,
            &files[0],
            &files[1],
            "--project",
            PROJECT_ID,
            "--connections-file",
            &files[2],
            "--connections-file",
            &files[3],
        ])
        .await;

    // Assert
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("--connections-file"),
        "{}",
        refused.stderr()
    );
}

#[tokio::test]
async fn a_listed_object_of_another_project_or_without_an_id_is_rejected_and_stops_deletions() {
    // Arrange: a first sync with a lone connection; then the list drops it but carries
    // another project's connection and a provider app without an id.
    let app = spawn_app().await;
    app.api
        .set_connections(listed(&app, &[lone_connection(1, "grp-lone-1")]));
    app.sync().await;
    let mut foreign = lone_connection(2, "grp-lone-2");
    foreign["projectId"] = json!("proj-someone-else");
    app.api.set_connections(listed(&app, &[foreign]));
    let mut nameless = provider_app("zoho");
    nameless.as_object_mut().unwrap().remove("id");
    app.api
        .set_provider_apps(json!([provider_app("salesforce"), nameless]));

    // Act
    let run = app.sync().await;

    // Assert: both rejected, with their source; nothing deleted, the foreign one not stored.
    let rejected: Vec<(String, String)> =
        sqlx::query_as("SELECT source, reason FROM ampersand.rejected_records ORDER BY source")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].0, "connections");
    assert!(rejected[0].1.contains("proj-someone-else"), "{rejected:?}");
    assert_eq!(rejected[1].0, "provider_apps");
    assert!(
        run.stdout().contains("deletions skipped"),
        "{}",
        run.stdout()
    );
    assert_eq!(live(&app, CONNECTION, "conn-lone-001").await, Some(true));
    assert_eq!(live(&app, CONNECTION, "conn-lone-002").await, None);
}

#[tokio::test]
async fn a_connections_list_that_drops_most_connections_trips_the_mass_delete_guard() {
    // Arrange: 20 lone connections beside the fixture's 15.
    let app = spawn_app().await;
    let lone: Vec<Value> = (0..20)
        .map(|n| lone_connection(n, &format!("grp-lone-{n}")))
        .collect();
    app.api.set_connections(listed(&app, &lone));
    app.sync().await;

    // Act: the list comes back with only the installed ones.
    app.api.set_connections(listed(&app, &[]));
    let refused = app.ampsync(&["sync", "--project", PROJECT_ID]).await;
    let allowed = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--allow-mass-delete"])
        .await
        .success();

    // Assert
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains("refusing to delete 20 of the 20 live groups, 20 of the 20 live consumers and 20 of the 20 live connections"),
        "{}",
        refused.stderr()
    );
    assert!(
        allowed.stdout().contains("connections +0 ~0 -20"),
        "{}",
        allowed.stdout()
    );
}

/// Project B of a database that project A (the fixture project) shares: the fixture's
/// installations `range` with every id and project id made B's own.
fn project_b_installations(range: std::ops::Range<usize>) -> Value {
    let text = installations(range)
        .to_string()
        .replace(PROJECT_ID, PROJECT_B)
        .replace("\"inst-", "\"instb-")
        .replace("\"cfg-", "\"cfgb-")
        .replace("\"conn-", "\"connb-")
        .replace("\"papp-", "\"pappb-");
    serde_json::from_str(&text).unwrap()
}

const PROJECT_B: &str = "proj-b7d40e11";

#[tokio::test]
async fn a_record_reusing_another_projects_id_in_a_shared_database_is_rejected_every_run_not_failed(
) {
    // Arrange: project A synced; project B, in the same database, whose API lists a
    // connection without a projectId that has A's id conn-00001, a provider app without
    // one that has A's id papp-hubspot, and an installation embedding A's conn-00002.
    let app = spawn_app().await;
    app.sync().await;
    let a_rows = "SELECT string_agg(concat_ws(' ', id, project_id, row_hash, deleted_at), ',' ORDER BY id)
                  FROM (SELECT id, project_id, row_hash, deleted_at FROM ampersand.connections
                        UNION ALL SELECT id, project_id, row_hash, deleted_at FROM ampersand.provider_apps
                        UNION ALL SELECT id, project_id, row_hash, deleted_at FROM ampersand.installations) AS r
                  WHERE project_id = $1";
    let a_stored = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(a_rows)
                .bind(PROJECT_ID)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let a_before = a_stored(&app).await;
    let mut project = crate::fixtures::project();
    project["id"] = json!(PROJECT_B);
    project["name"] = json!("b-prod");
    let mut b_installations = project_b_installations(0..5);
    let hostile = &mut b_installations[4];
    hostile["connection"]["id"] = json!("conn-00002");
    hostile["connection"]
        .as_object_mut()
        .unwrap()
        .remove("projectId");
    let b = crate::helpers::FakeApi::start(project, json!([]), b_installations.clone()).await;
    let mut reused = installations(2..3)[0]["connection"].clone();
    reused.as_object_mut().unwrap().remove("projectId");
    reused["providerApp"]["id"] = json!("pappb-salesforce");
    let mut connections = embedded_connections(&b_installations);
    connections.push(reused);
    b.set_connections(Value::Array(connections));
    let mut app_reused = provider_app("hubspot");
    app_reused.as_object_mut().unwrap().remove("projectId");
    b.set_provider_apps(json!([app_reused]));

    for attempt in 0..2 {
        // Act
        let run = app
            .ampsync_env(
                &["sync", "--project", PROJECT_B],
                &[("AMPERSAND_API_URL", b.url.as_str())],
            )
            .await;

        // Assert: B's run succeeds; the three records are rejected, each naming the id
        // and project A; the rest of B is stored; deletions are skipped.
        assert_eq!(run.code(), 0, "attempt {attempt}: {}", run.stderr());
        let rejected: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT r.source, r.position, r.reason FROM ampersand.rejected_records AS r
             WHERE r.sync_run_id = (SELECT max(id) FROM ampersand.sync_runs WHERE project = $1)
             ORDER BY 1, 2",
        )
        .bind(PROJECT_B)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let named = |source: &str, position: i64, id: &str| {
            rejected.iter().any(|(s, p, reason)| {
                s == source
                    && *p == position
                    && reason.contains(id)
                    && reason.contains(PROJECT_ID)
                    && reason.contains(PROJECT_B)
            })
        };
        assert!(named("installations", 4, "conn-00002"), "{rejected:?}");
        assert!(named("connections", 2, "conn-00002"), "{rejected:?}");
        assert!(named("connections", 3, "conn-00001"), "{rejected:?}");
        assert!(named("provider_apps", 0, "papp-hubspot"), "{rejected:?}");
        assert_eq!(rejected.len(), 4, "{rejected:?}");
        assert!(
            run.stdout().contains("4 records rejected"),
            "{}",
            run.stdout()
        );
        let b_installations = app
            .count("SELECT count(*) FROM ampersand.installations WHERE project_id = 'proj-b7d40e11' AND deleted_at IS NULL")
            .await;
        assert_eq!(b_installations, 4);
        assert_eq!(
            app.count(
                "SELECT count(*) FROM ampersand.connections WHERE project_id = 'proj-b7d40e11'"
            )
            .await,
            2
        );
        assert_eq!(a_stored(&app).await, a_before, "A's rows are untouched");
        let status: String = sqlx::query_scalar(
            "SELECT status FROM ampersand.sync_runs WHERE project = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(PROJECT_B)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(status, "succeeded");
    }

    // Act: A syncs on as before.
    app.sync().await;

    // Assert
    assert_eq!(a_stored(&app).await, a_before);
}
