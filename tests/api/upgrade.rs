//! Upgrades are safe to install over what users have: landed migrations never change,
//! and a database written by 0.1.0, 0.2.0 or 0.3.1 migrates and syncs without false
//! history.
//!
//! `tests/fixtures/upgrade/v0.1.0.sql` is a database written by 0.1.0 (commit eb94da7):
//! `ampsync import tests/fixtures/upgrade/installations-2026-11-01.json --project
//! proj-7c1e2a90 --observed-at 2026-11-01T00:00:00Z --project-file samples/project.json
//! --integrations-file samples/integrations.json`, then `pg_dump --no-owner
//! --no-privileges`. The fixture's installations are the sample's, with `catalogVars`
//! on 14 of the 53 connections, which 0.1.0 kept in `extra`.
//!
//! `tests/fixtures/upgrade/v0.2.0.sql` is a database written by 0.2.0 (commit f12e66d)
//! the same way from `numbers-2026-11-15.json` observed at 2026-11-15T00:00:00Z: the
//! sample's installations with numbers in config contents and `extra`, written as
//! `1e5`, `1.50`, `1e-7`, `2.50`, which 0.2.0 kept by value, and as
//! `9875133.537942737`, `123456789012345678901234567890` and `18446744073709551616`,
//! which it altered.
//!
//! `tests/fixtures/upgrade/v0.3.1.sql` is a database written by 0.3.1 (commit afa5e3b)
//! from two snapshots with their lists, in one import: `ampsync import
//! samples/installations-2026-11-01.json tests/fixtures/upgrade/numbers-2026-11-15.json
//! --project proj-7c1e2a90 --observed-at 2026-11-01T00:00:00Z --observed-at
//! 2026-11-15T00:00:00Z --project-file samples/project.json --integrations-file
//! samples/integrations.json --connections-file samples/connections-2026-11-01.json
//! --connections-file tests/fixtures/upgrade/connections-2026-11-15.json
//! --provider-apps-file samples/provider-apps.json`, then `pg_dump --no-owner
//! --no-privileges`. `connections-2026-11-15.json` is the connections list of the
//! numbers snapshot: the sample's list with each used connection as that snapshot
//! embeds it (`catalogVars` on 14), and without grp-soylent's gong connection, which
//! no installation uses. So the database holds list-only connections (one of them
//! deleted) and a list-only provider app, `catalog_vars`, configs whose numbers 0.3.1
//! stored exactly, and history: the second run updated 12 configs, 14 connections and
//! 2 installations.

use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

/// Every migration that has landed on main, with the BLAKE3 digest of its file. A
/// landed migration is never edited (refinery refuses to run over a database whose
/// applied migrations differ): new schema goes in a new file, added here when it lands.
/// V1 to V6 are 0.1.0's, V7 is 0.2.0's, V8 and V9 0.3.0's, V10 to V13 0.4.0's.
const LANDED: [(&str, &str); 13] = [
    (
        "V1__tables.sql",
        "1a471ba01410cfde3d888a4a44dec3ad2411421e683802db6c5f9ac2cfc4471c",
    ),
    (
        "V2__history.sql",
        "b0e514944e9456b8d741240943afa2011bb63e2d6ae25e5c1fc1ab42b31ff420",
    ),
    (
        "V3__history_queries.sql",
        "da59356ac215870506739decb86f7279a6b45801e8427cea06d520a808e15918",
    ),
    (
        "V4__comments_and_views.sql",
        "fc7b3c5669175c381da6f4fb970a041b7891852e06aaec6a2a244cf7fafe69cb",
    ),
    (
        "V5__set_based_apply.sql",
        "36800a12e016582cc1808e6ae2e09871c290c591fd99014a8bf1c2ededd1ffc7",
    ),
    (
        "V6__cheaper_plan_and_merge.sql",
        "a84e26facbf2f55a0e6431ae3a47a0fff0ad29b9eb3b43338c3195de970ed657",
    ),
    (
        "V7__source_hashes_catalog_vars.sql",
        "afd6cfb5d4618f84d9345ad4056f5c590cad711ab4c9f6b431f5da765b38cfa2",
    ),
    (
        "V8__bounded_rejects.sql",
        "c8e674d895a03099c38c865907108cab380d3fe55102e51f0e8764bf7902fa00",
    ),
    (
        "V9__connected_not_installed.sql",
        "6f5534ad3819801cf99c3403a5cbd2b33454dd163b9f3c97e964ea7bf10e8c51",
    ),
    (
        "V10__retention_bounds.sql",
        "a42715441b43da853948c45c0cab7dd80ad4d082f24e05a5b0a1d30476530415",
    ),
    (
        "V11__connection_scopes.sql",
        "16b2605b99a0d4f300fb77d066038e457ca4164d15c5c03437fbe3e65a3b8250",
    ),
    (
        "V12__operations.sql",
        "f85db30ad6249d3a8b34252ff2ab04bdb202b25530cd07fbe066b6c438ab318f",
    ),
    (
        "V13__run_temp_bytes.sql",
        "7e26a8885915b6b16705ba06287753e9ea0d8fee6ceea845e9ce1559ebd26a13",
    ),
];

#[test]
fn no_landed_migration_has_changed_and_every_migration_is_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort_by_key(|f| f[1..].split("__").next().unwrap().parse::<u32>().unwrap());
    let mut changed = Vec::new();
    for (file, digest) in LANDED {
        let text = std::fs::read(format!("{dir}/{file}"))
            .unwrap_or_else(|_| panic!("the landed migration {file} is gone"));
        let actual = blake3::hash(&text).to_hex().to_string();
        if actual != digest {
            changed.push(format!("{file}: {actual}"));
        }
    }
    assert!(
        changed.is_empty(),
        "landed migrations were edited (put the change in a new migration instead): {changed:#?}"
    );
    let listed: Vec<&str> = LANDED.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        files, listed,
        "a new migration lands with its digest in LANDED (tests/api/upgrade.rs)"
    );
}

const PROJECT: &str = "proj-7c1e2a90";
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

/// A test database holding what 0.1.0 wrote.
async fn app_from_0_1_0() -> TestApp {
    app_from("v0.1.0.sql").await
}

/// A test database loaded from a fixture's dump.
async fn app_from(dump: &str) -> TestApp {
    let app = spawn_app().await;
    let out = tokio::process::Command::new(crate::helpers::pg_tool("psql"))
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(format!("{FIXTURE}/{dump}"))
        .arg(&app.database_url)
        .output()
        .await
        .expect("psql runs");
    assert!(
        out.status.success(),
        "loading {dump}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    app
}

/// `ampsync import` of a fixture file at `observed_at`, which must succeed; its summary.
async fn import(app: &TestApp, file: &str, observed_at: &str, integrations: bool) -> String {
    let file = format!("{FIXTURE}/{file}");
    let project_file = format!("{SAMPLES}/project.json");
    let integrations_file = format!("{SAMPLES}/integrations.json");
    let mut args = vec![
        "import",
        &file,
        "--project",
        PROJECT,
        "--observed-at",
        observed_at,
        "--project-file",
        &project_file,
    ];
    if integrations {
        args.extend(["--integrations-file", integrations_file.as_str()]);
    }
    app.ampsync(&args).await.success().stdout()
}

/// Per table: rows, history versions, the newest `changed_at` and the runs that wrote
/// the current rows.
async fn history_fingerprint(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for table in ampsync::catalog::Table::ALL.map(|t| t.name()) {
        let row: Value = sqlx::query_scalar(&format!(
            "SELECT json_build_object('rows', count(*), 'changed_at', max(changed_at),
                    'runs', array_agg(DISTINCT sync_run_id),
                    'versions', (SELECT count(*) FROM ampersand.{table}_history))
             FROM ampersand.{table}"
        ))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        out.insert(table.to_owned(), row);
    }
    Value::Object(out)
}

#[tokio::test]
async fn a_database_written_by_0_1_0_migrates_and_the_same_snapshot_writes_no_version() {
    // Arrange
    let app = app_from_0_1_0().await;
    let before = history_fingerprint(&app).await;
    assert_eq!(before["installations"]["rows"], 60, "{before}");

    // Act: the same snapshot, observed a day later, under this release.
    let upgraded = import(
        &app,
        "installations-2026-11-01.json",
        "2026-11-02T00:00:00Z",
        true,
    )
    .await;

    // Assert: no row, no version, no changed_at moved; the hashes were carried over.
    assert_eq!(history_fingerprint(&app).await, before, "{upgraded}");
    assert!(upgraded.contains("rehashed from 0.1.0"), "{upgraded}");

    // Then the stored hashes are this release's: a compared run finds nothing at all.
    let again = import(
        &app,
        "installations-2026-11-01.json",
        "2026-11-03T00:00:00Z",
        false,
    )
    .await;
    assert!(again.contains("no changes"), "{again}");
    assert_eq!(history_fingerprint(&app).await, before);

    // And a changed snapshot applies as it always did.
    let changed = import(
        &app,
        "installations-2026-11-08.json",
        "2026-11-08T00:00:00Z",
        true,
    )
    .await;
    assert!(changed.contains("installations +4 ~5 -3"), "{changed}");
    let versions: i64 = app
        .count(
            "SELECT count(*) FROM ampersand.installations_history WHERE valid_from = '2026-11-08'",
        )
        .await;
    assert_eq!(versions, 12);
}

#[tokio::test]
async fn promoting_catalog_vars_out_of_extra_writes_no_version_and_later_changes_to_it_do() {
    // Arrange: 0.1.0 kept catalogVars in extra.
    let app = app_from_0_1_0().await;
    let in_extra = app
        .count("SELECT count(*) FROM ampersand.connections WHERE extra ? 'catalogVars'")
        .await;
    assert_eq!(in_extra, 14);
    let versions = app
        .count("SELECT count(*) FROM ampersand.connections_history")
        .await;

    // Act
    import(
        &app,
        "installations-2026-11-01.json",
        "2026-11-02T00:00:00Z",
        true,
    )
    .await;

    // Assert: the field moved to its column in place, with no version.
    let moved: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE catalog_vars ->> 'region' = 'eu-west-1'),
                count(*) FILTER (WHERE extra ? 'catalogVars'),
                (SELECT count(*) FROM ampersand.connections_history)
         FROM ampersand.connections",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(moved, (14, 0, versions));

    // A real change to the promoted field is a new version, as for any field.
    let mut changed: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURE}/installations-2026-11-01.json")).unwrap(),
    )
    .unwrap();
    let mut target = None;
    for inst in changed.as_array_mut().unwrap() {
        let conn = &mut inst["connection"];
        if conn.get("catalogVars").is_some() && target.as_ref().is_none_or(|t| &conn["id"] == t) {
            target = Some(conn["id"].clone());
            conn["catalogVars"]["region"] = "us-east-1".into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("changed.json");
    std::fs::write(&file, changed.to_string()).unwrap();
    let out = app
        .ampsync(&[
            "import",
            file.to_str().unwrap(),
            "--project",
            PROJECT,
            "--observed-at",
            "2026-11-03T00:00:00Z",
        ])
        .await
        .success()
        .stdout();
    assert!(out.contains("connections +0 ~1 -0"), "{out}");
    let region: String = sqlx::query_scalar(
        "SELECT catalog_vars ->> 'region' FROM ampersand.connections_history
         WHERE id = $1 AND change = 'update' AND valid_to IS NULL",
    )
    .bind(target.unwrap().as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(region, "us-east-1");
}

#[tokio::test]
async fn a_database_written_by_0_2_0_keeps_its_hashes_and_only_numbers_it_altered_are_corrected() {
    // Arrange
    let app = app_from("v0.2.0.sql").await;
    let before = history_fingerprint(&app).await;
    assert_eq!(before["configs"]["rows"], 60, "{before}");
    let altered: String = sqlx::query_scalar(
        "SELECT content -> 'limits' ->> 'precise' FROM ampersand.configs
         WHERE content -> 'limits' ? 'precise' LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(altered, "9875133.537942735", "what 0.2.0 stored");

    // Act: the same snapshot a day later, under this release.
    let out = import(
        &app,
        "numbers-2026-11-15.json",
        "2026-11-16T00:00:00Z",
        true,
    )
    .await;

    // Assert: only the two configs and the installation whose numbers 0.2.0 altered
    // have a new version, which holds the exact values; everything else is as it was.
    assert!(out.contains("configs +0 ~2 -0"), "{out}");
    assert!(out.contains("installations +0 ~1 -0"), "{out}");
    let after = history_fingerprint(&app).await;
    for table in [
        "connections",
        "consumers",
        "groups",
        "integrations",
        "provider_apps",
    ] {
        assert_eq!(after[table], before[table], "{table}");
    }
    let exact: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT content -> 'limits' ->> 'precise', content -> 'limits' ->> 'huge', change
         FROM ampersand.configs_history
         WHERE valid_from = '2026-11-16' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected = (
        "9875133.537942737".to_owned(),
        "123456789012345678901234567890".to_owned(),
        "update".to_owned(),
    );
    assert_eq!(exact, vec![expected.clone(), expected]);
    let quota: String = sqlx::query_scalar(
        "SELECT extra ->> 'quota' FROM ampersand.installations WHERE extra ? 'quota'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(quota, "18446744073709551616");
    // Numbers 0.2.0 kept by value are kept as they were, with no version.
    let kept: i64 = app
        .count(
            "SELECT count(*) FROM ampersand.configs
             WHERE content -> 'limits' -> 'big' = '1e5' AND content -> 'limits' -> 'scale' = '1.5'
               AND changed_at = '2026-11-15'",
        )
        .await;
    assert_eq!(kept, 10);

    // Then a compared run finds nothing.
    let again = import(
        &app,
        "numbers-2026-11-15.json",
        "2026-11-17T00:00:00Z",
        false,
    )
    .await;
    assert!(again.contains("no changes"), "{again}");
}

/// `ampsync import` of the numbers snapshot at `observed_at` with its lists, as the
/// 0.3.1 fixture's second run read it; which must succeed: its summary.
async fn import_numbers_with_lists(app: &TestApp, observed_at: &str) -> String {
    let file = format!("{FIXTURE}/numbers-2026-11-15.json");
    let connections_file = format!("{FIXTURE}/connections-2026-11-15.json");
    let project_file = format!("{SAMPLES}/project.json");
    let integrations_file = format!("{SAMPLES}/integrations.json");
    let provider_apps_file = format!("{SAMPLES}/provider-apps.json");
    app.ampsync(&[
        "import",
        &file,
        "--project",
        PROJECT,
        "--observed-at",
        observed_at,
        "--project-file",
        &project_file,
        "--integrations-file",
        &integrations_file,
        "--connections-file",
        &connections_file,
        "--provider-apps-file",
        &provider_apps_file,
    ])
    .await
    .success()
    .stdout()
}

#[tokio::test]
async fn a_database_written_by_0_3_1_migrates_and_the_same_snapshot_writes_no_version() {
    // Arrange: what 0.3.1 wrote, checked to hold what the fixture is for.
    let app = app_from("v0.3.1.sql").await;
    let before = history_fingerprint(&app).await;
    let changes = app.count("SELECT count(*) FROM ampersand.change_log").await;
    let held: (i64, i64, i64, i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ampersand.connections AS c
                 WHERE deleted_at IS NULL
                   AND NOT EXISTS (SELECT FROM ampersand.installations AS i
                                   WHERE i.connection_id = c.id)),
                (SELECT count(*) FROM ampersand.connections WHERE deleted_at IS NOT NULL),
                (SELECT count(*) FROM ampersand.connections WHERE catalog_vars IS NOT NULL),
                (SELECT count(*) FROM ampersand.configs_history WHERE valid_from = '2026-11-15'),
                (SELECT content -> 'limits' ->> 'precise' FROM ampersand.configs
                 WHERE content -> 'limits' ? 'precise' LIMIT 1)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        held,
        (3, 1, 14, 12, "9875133.537942737".to_owned()),
        "{before}"
    );

    // Act: the same snapshot, with the same lists, a day later under this release.
    let upgraded = import_numbers_with_lists(&app, "2026-11-16T00:00:00Z").await;

    // Assert: no row, no version, no changed_at moved, no change logged.
    assert_eq!(history_fingerprint(&app).await, before, "{upgraded}");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.change_log").await,
        changes
    );

    // And a further run of it finds nothing at all.
    let again = import_numbers_with_lists(&app, "2026-11-17T00:00:00Z").await;
    assert!(again.contains("no changes"), "{again}");
    assert_eq!(history_fingerprint(&app).await, before);
}

#[tokio::test]
async fn a_database_pruned_before_the_upgrade_exports_as_of_times_its_history_still_holds() {
    // Arrange: two snapshots, exported as of the first.
    let app = spawn_app().await;
    import(
        &app,
        "installations-2026-11-01.json",
        "2026-11-01T00:00:00Z",
        true,
    )
    .await;
    import(
        &app,
        "installations-2026-11-08.json",
        "2026-11-08T00:00:00Z",
        true,
    )
    .await;
    let as_of = [
        "export",
        "--project",
        PROJECT,
        "--as-of",
        "2026-11-01T00:00:00Z",
    ];
    let before = app.ampsync(&as_of).await.success().stdout();
    // The database as 0.3 left it: without project_retention (the migration that adds
    // it had not run), and pruned as 0.3's prune did, every run but the latest
    // succeeded one deleted, with the versions kept.
    for statement in [
        "DROP TABLE IF EXISTS ampersand.project_retention",
        // V10 and the migrations after it, which run again.
        "DELETE FROM public.ampsync_schema_history WHERE version >= 10",
        "DELETE FROM ampersand.rejected_records
         WHERE sync_run_id <> (SELECT max(id) FROM ampersand.sync_runs WHERE status = 'succeeded')",
        "DELETE FROM ampersand.sync_runs
         WHERE id <> (SELECT max(id) FROM ampersand.sync_runs WHERE status = 'succeeded')",
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.sync_runs").await,
        1
    );

    // Act
    app.ampsync(&["migrate"]).await.success();
    let after = app.ampsync(&as_of).await;

    // Assert: the first snapshot's time is answered from the history it left.
    let after = after.success().stdout();
    assert_eq!(after, before, "the same export as before the prune");
    let first: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT first_observed_at FROM ampersand.project_retention WHERE project_id = $1",
    )
    .bind(PROJECT)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(first.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
}
