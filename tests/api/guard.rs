//! The mass-delete guard of the tables the lists fill: connections, groups, consumers
//! and provider apps that no installation uses. A list that answers `[]` or a first
//! page only is refused (naming each table, deleting nothing), `--allow-mass-delete`
//! lets it through, a small deletion goes through alone, and `import` is guarded too.

use serde_json::{json, Value};

use crate::fixtures::{
    embedded_connections, installations, lone_connection, provider_app, PROJECT_ID,
};
use crate::helpers::{spawn_app, TestApp};

/// Lone connection `n` (in group `grp-lone-n`, for consumer `user-lone-n`) with a
/// provider app of its own, `papp-lone-n`: four rows no installation reaches.
fn lone(n: usize) -> Value {
    let mut connection = lone_connection(n, &format!("grp-lone-{n}"));
    connection["providerApp"] = provider_app(&format!("lone-{n}"));
    connection
}

/// The lists as the API gives them: the connections the installations embed plus lone
/// connections `lone`, and the provider apps of those lone connections.
fn serve_lists(app: &TestApp, lone_ones: std::ops::Range<usize>) {
    let installations = app.api.state.lock().unwrap().installations.clone();
    let mut connections = embedded_connections(&installations);
    connections.extend(lone_ones.clone().map(lone));
    app.api.set_connections(Value::Array(connections));
    let apps: Vec<Value> = lone_ones
        .map(|n| provider_app(&format!("lone-{n}")))
        .collect();
    app.api.set_provider_apps(Value::Array(apps));
}

/// Live rows of each table a list fills: connections, groups, consumers, provider apps.
async fn live_rows(app: &TestApp) -> [i64; 4] {
    let mut counts = [0; 4];
    for (count, table) in
        counts
            .iter_mut()
            .zip(["connections", "groups", "consumers", "provider_apps"])
    {
        *count = app
            .count(&format!(
                "SELECT count(*) FROM ampersand.{table} WHERE deleted_at IS NULL"
            ))
            .await;
    }
    counts
}

#[tokio::test]
async fn lists_that_answer_empty_or_a_first_page_are_refused_for_every_table_until_allowed() {
    // Arrange: 14 lone connections beside the fixture's 15 installed ones, so that
    // measured against every live connection (29) the loss of all 14 is not "half".
    let app = spawn_app().await;
    serve_lists(&app, 0..14);
    app.sync().await;
    let stored = live_rows(&app).await;
    let before = app.fingerprint().await;

    // Act: both lists answer `[]`.
    app.api.set_connections(json!([]));
    app.api.set_provider_apps(json!([]));
    let empty = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert: refused, each table named with its list-only rows; nothing written.
    assert_eq!(empty.code(), 1, "{}", empty.stderr());
    for named in [
        "14 of the 14 live groups",
        "14 of the 14 live consumers",
        "14 of the 14 live provider_apps",
        "14 of the 14 live connections",
    ] {
        assert!(
            empty.stderr().contains(named),
            "{named}: {}",
            empty.stderr()
        );
    }
    assert!(
        empty.stderr().contains("--allow-mass-delete"),
        "{}",
        empty.stderr()
    );
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    assert_eq!(app.runs().await.last().unwrap().2, "failed");

    // Act: the lists answer their first page only: 2 of the 14.
    serve_lists(&app, 0..2);
    let first_page = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert
    assert_eq!(first_page.code(), 1, "{}", first_page.stderr());
    assert!(
        first_page
            .stderr()
            .contains("refusing to delete 12 of the 14 live groups, 12 of the 14 live consumers, 12 of the 14 live provider_apps and 12 of the 14 live connections"),
        "{}",
        first_page.stderr()
    );
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    assert_eq!(live_rows(&app).await, stored);

    // Act: the operator confirms.
    let allowed = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--allow-mass-delete"])
        .await
        .success();

    // Assert
    for table in ["groups", "consumers", "provider_apps", "connections"] {
        let line = format!("{table} +0 ~0 -12");
        assert!(
            allowed.stdout().contains(&line),
            "{line}: {}",
            allowed.stdout()
        );
    }
    assert_eq!(
        live_rows(&app).await,
        [
            stored[0] - 12,
            stored[1] - 12,
            stored[2] - 12,
            stored[3] - 12
        ]
    );
}

#[tokio::test]
async fn a_list_that_drops_up_to_half_of_what_only_it_shows_is_applied_without_the_flag() {
    // Arrange: 24 lone connections.
    let app = spawn_app().await;
    serve_lists(&app, 0..24);
    app.sync().await;
    let stored = live_rows(&app).await;

    // Act: 12 of them go (half, not more); then 4 more of the 12 left (10 at most
    // pass whatever the share: 4 of 12 here).
    serve_lists(&app, 12..24);
    let half = app.sync().await;
    serve_lists(&app, 16..24);
    let few = app.sync().await;

    // Assert
    assert!(
        half.stdout().contains("connections +0 ~0 -12"),
        "{}",
        half.stdout()
    );
    assert!(
        few.stdout().contains("provider_apps +0 ~0 -4"),
        "{}",
        few.stdout()
    );
    assert_eq!(
        live_rows(&app).await,
        [
            stored[0] - 16,
            stored[1] - 16,
            stored[2] - 16,
            stored[3] - 16
        ]
    );
}

#[tokio::test]
async fn an_import_whose_list_files_are_empty_is_refused_until_allowed() {
    // Arrange: an import with 14 lone connections in its lists, then a later one of the
    // same installations whose list files hold `[]`.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let inst = installations(0..30);
    let mut connections = embedded_connections(&inst);
    connections.extend((0..14).map(lone));
    let apps: Vec<Value> = (0..14)
        .map(|n| provider_app(&format!("lone-{n}")))
        .collect();
    let inst = write("installations.json", &inst);
    let connections = write("connections.json", &Value::Array(connections));
    let apps = write("provider-apps.json", &Value::Array(apps));
    let empty = write("empty.json", &json!([]));
    let import = |lists: &str, observed_at: &str, allow: bool| {
        let mut args = vec![
            "import".to_string(),
            inst.clone(),
            "--project".into(),
            PROJECT_ID.into(),
            "--observed-at".into(),
            observed_at.into(),
            "--connections-file".into(),
            lists.into(),
            "--provider-apps-file".into(),
            lists.into(),
        ];
        if allow {
            args.push("--allow-mass-delete".into());
        }
        args
    };
    let run = |args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            app.ampsync(&args).await
        }
    };
    let mut first = import(&connections, "2026-11-01T00:00:00Z", false);
    first[9] = apps.clone();
    run(first).await.success();
    let stored = live_rows(&app).await;

    // Act
    let refused = run(import(&empty, "2026-11-08T00:00:00Z", false)).await;

    // Assert
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains(&format!(
            "refusing to delete 14 of the 14 live groups, 14 of the 14 live consumers, 14 of the 14 live provider_apps and 14 of the 14 live connections of project {PROJECT_ID}"
        )),
        "{}",
        refused.stderr()
    );
    assert_eq!(live_rows(&app).await, stored);

    // Act
    run(import(&empty, "2026-11-08T00:00:00Z", true))
        .await
        .success();

    // Assert
    assert_eq!(
        live_rows(&app).await,
        [
            stored[0] - 14,
            stored[1] - 14,
            stored[2] - 14,
            stored[3] - 14
        ]
    );
}

#[tokio::test]
async fn a_group_sync_is_measured_against_its_groups_list_only_connections() {
    // Arrange: 12 lone connections in grp-1 and 30 in grp-2 (42 in the project).
    let app = spawn_app().await;
    let installations = app.api.state.lock().unwrap().installations.clone();
    let mut connections = embedded_connections(&installations);
    connections.extend((0..12).map(|n| lone_connection(n, "grp-1")));
    connections.extend((12..42).map(|n| lone_connection(n, "grp-2")));
    app.api.set_connections(Value::Array(connections));
    app.sync().await;

    // Act: grp-1's list comes back without its 12 (12 of the project's 42).
    app.api
        .set_connections(Value::Array(embedded_connections(&installations)));
    let group = ["sync", "--project", PROJECT_ID, "--group-ref", "grp-1"];
    let refused = app.ampsync(&group).await;
    let allowed = app
        .ampsync(&[&group[..], &["--allow-mass-delete"]].concat())
        .await
        .success();

    // Assert: all of what only grp-1's list showed is "more than half".
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains(&format!(
            "refusing to delete 12 of the 12 live connections of project {PROJECT_ID}"
        )),
        "{}",
        refused.stderr()
    );
    assert!(
        allowed.stdout().contains("connections +0 ~0 -12"),
        "{}",
        allowed.stdout()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE id LIKE 'conn-lone-%' AND group_ref = 'grp-2' AND deleted_at IS NULL")
            .await,
        30
    );
}
