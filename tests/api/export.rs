//! `ampsync export`: import then export gives back the input, less secrets, field by
//! field, except the documented transforms (README, "Transforms to know about"), for
//! every fixture: the spec's and the doc page's examples, the samples, the test
//! fixtures, adversarial and random schema-valid responses. Also `--as-of`, streaming
//! memory, secrets, the reader role and the CLI conventions.
//!
//! What the export should give back is decided by the oracle (export/oracle.rs: the
//! documented transforms, applied to the input); the adversarial and random inputs are
//! made by export/generate.rs.

mod generate;
mod oracle;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::fixtures::{self, assert_holds_no_secret, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use generate::{adversarial, random};
use oracle::{assert_same, decimal, instant};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------
// Running import and export.

/// Writes `installations` to a file and imports it as a snapshot of `project` observed
/// at `at`.
async fn import(app: &TestApp, installations: &Value, project: &str, at: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("installations.json");
    std::fs::write(&path, serde_json::to_vec(installations).unwrap()).unwrap();
    app.ampsync(&[
        "import",
        &path.display().to_string(),
        "--project",
        project,
        "--observed-at",
        at,
    ])
    .await
    .success();
}

/// `ampsync export --project P ARGS`, which must succeed: its output parsed, and as text.
async fn export(app: &TestApp, project: &str, args: &[&str]) -> (Value, String) {
    let mut all = vec!["export", "--project", project];
    all.extend_from_slice(args);
    let run = app.ampsync(&all).await.success();
    let text = run.stdout();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the export is not JSON ({e}): {text}"));
    (value, text)
}

/// The project the installations of a fixture belong to.
fn project_of(installations: &Value) -> String {
    installations[0]["projectId"]
        .as_str()
        .unwrap_or(PROJECT_ID)
        .to_owned()
}

/// Import `input` into a fresh database, export it, and check the round trip.
async fn assert_round_trip(name: &str, input: &Value) {
    let project = project_of(input);
    let app = spawn_app().await;
    import(&app, input, &project, "2026-11-01T00:00:00Z").await;
    let (exported, _) = export(&app, &project, &[]).await;
    assert_same(name, input, &exported, &project);
}

// ---------------------------------------------------------------------------------
// The round trip, fixture by fixture.

#[tokio::test]
async fn the_specs_example_comes_back_from_import_and_export_less_its_secrets() {
    let input = read_json("tests/fixtures/export/spec-examples.json");
    assert_round_trip("the OpenAPI spec's example", &input).await;
}

#[tokio::test]
async fn the_doc_pages_example_comes_back_from_import_and_export_less_its_secrets() {
    let input = read_json("tests/fixtures/export/doc-page-example.json");
    assert_round_trip("the doc page's example", &input).await;
}

#[tokio::test]
async fn the_sample_responses_come_back_from_import_and_export() {
    for file in [
        "samples/installations-2026-11-01.json",
        "samples/installations-2026-11-08.json",
    ] {
        assert_round_trip(file, &read_json(file)).await;
    }
}

#[tokio::test]
async fn the_upgrade_fixtures_come_back_numbers_exact() {
    for file in [
        "tests/fixtures/upgrade/installations-2026-11-01.json",
        "tests/fixtures/upgrade/installations-2026-11-08.json",
        "tests/fixtures/upgrade/numbers-2026-11-15.json",
    ] {
        assert_round_trip(file, &read_json(file)).await;
    }
}

#[tokio::test]
async fn the_test_fixtures_come_back_from_import_and_export() {
    assert_round_trip("tests/api/fixtures.rs", &fixtures::installations(0..30)).await;
}

#[tokio::test]
async fn adversarial_input_comes_back_except_the_documented_transforms() {
    let input = adversarial();
    assert_round_trip("adversarial", &input).await;
}

#[tokio::test]
async fn random_schema_valid_responses_come_back_except_the_documented_transforms() {
    for seed in [1, 2, 3] {
        let input = random(seed, 40);
        assert_round_trip(&format!("random (seed {seed})"), &input).await;
    }
}

#[test]
fn the_normalizer_reads_numbers_by_value_and_times_as_instants() {
    assert_eq!(decimal("1e5"), decimal("100000"));
    assert_eq!(decimal("100000.000"), decimal("1E+5"));
    assert_eq!(decimal("2.50"), decimal("2.5"));
    assert_eq!(decimal("-0"), "0");
    assert_ne!(decimal("9875133.537942737"), decimal("9875133.537942735"));
    assert_eq!(decimal("0.00012"), "12e-5");
    assert_eq!(
        instant("2023-11-07T05:31:56.987654321+05:30"),
        "2023-11-07T00:01:56.987654Z"
    );
    assert_eq!(
        instant("2023-11-07T05:31:56"),
        "2023-11-07T05:31:56.000000Z"
    );
    assert_eq!(
        instant("2023-11-07T05:31:56.9999997Z"),
        "2023-11-07T05:31:57.000000Z"
    );
}

// ---------------------------------------------------------------------------------
// As of a time.

#[tokio::test]
async fn export_as_of_the_first_snapshot_equals_the_export_made_right_after_it() {
    // Arrange: file A observed at T1, then file B at T2 (changes, deletions, refreshed tokens).
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    import(&app, &a, &project, "2026-11-01T00:00:00Z").await;
    let (right_after_a, text_after_a) = export(&app, &project, &[]).await;
    import(&app, &b, &project, "2026-11-08T00:00:00Z").await;

    // Act
    let (as_of_t1, text_as_of_t1) =
        export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    let (between, _) = export(&app, &project, &["--as-of", "2026-11-05T12:00:00+02:00"]).await;
    let (now, _) = export(&app, &project, &[]).await;

    // Assert
    assert_eq!(text_as_of_t1, text_after_a, "byte for byte");
    assert_eq!(as_of_t1, right_after_a);
    assert_eq!(between, right_after_a);
    assert_same("A, as of T1", &a, &as_of_t1, &project);
    assert_same("B, now", &b, &now, &project);
    assert_ne!(now, right_after_a);
    let fresh = spawn_app().await;
    import(&fresh, &b, &project, "2026-11-08T00:00:00Z").await;
    assert_eq!(
        export(&fresh, &project, &[]).await.0,
        now,
        "B alone gives the same export"
    );
}

#[tokio::test]
async fn export_as_of_a_time_whose_run_was_pruned_reads_the_history_still_there() {
    // Arrange: snapshots at T1 and T2, then a prune that deletes T1's run (it started
    // long ago) but, without --history, none of its versions.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    import(&app, &a, &project, "2026-11-01T00:00:00Z").await;
    import(&app, &b, &project, "2026-11-08T00:00:00Z").await;
    let (before, _) = export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    sqlx::query("UPDATE ampersand.sync_runs SET started_at = started_at - interval '200 days' WHERE observed_at = '2026-11-01'")
        .execute(&app.pool)
        .await
        .unwrap();
    let pruned = app
        .ampsync(&["prune", "--older-than", "100d"])
        .await
        .success();
    assert!(
        pruned.stdout().contains("pruned 1 runs"),
        "{}",
        pruned.stdout()
    );

    // Act
    let (after, _) = export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    let early = app
        .ampsync(&[
            "export",
            "--project",
            &project,
            "--as-of",
            "2026-10-31T23:59:59Z",
        ])
        .await;

    // Assert: T1 is still answered from history; before T1 nothing was ever known.
    assert_eq!(after, before);
    assert_eq!(early.code(), 2, "{}", early.stderr());
    assert!(
        early
            .stderr()
            .contains("its first was observed at 2026-11-01T00:00:00+00:00"),
        "{}",
        early.stderr()
    );
}

#[tokio::test]
async fn export_as_of_a_time_before_a_history_prune_is_refused_and_names_the_cutoff() {
    // Arrange: A observed 30 days ago, B (which changes and deletes some of A) 20 days
    // ago, then the versions that ended before 15 days ago pruned.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    let days_ago = |n: i64| (Utc::now() - chrono::Duration::days(n)).to_rfc3339();
    import(&app, &a, &project, &days_ago(30)).await;
    import(&app, &b, &project, &days_ago(20)).await;
    let since = days_ago(12);
    let (whole, _) = export(&app, &project, &["--as-of", &since]).await;
    let pruned = app
        .ampsync(&["prune", "--older-than", "15d", "--history"])
        .await
        .success();
    assert!(
        !pruned.stdout().contains("; 0 history versions"),
        "{}",
        pruned.stdout()
    );

    // Act
    let before_cutoff = app
        .ampsync(&["export", "--project", &project, "--as-of", &days_ago(25)])
        .await;
    let (after_cutoff, _) = export(&app, &project, &["--as-of", &since]).await;

    // Assert: refused (exit 2), naming the cutoff; after it, the history is whole.
    assert_eq!(before_cutoff.code(), 2, "{}", before_cutoff.stderr());
    let cutoff: DateTime<Utc> = sqlx::query_scalar(
        "SELECT history_since FROM ampersand.project_retention WHERE project_id = $1",
    )
    .bind(&project)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let err = before_cutoff.stderr();
    assert!(err.contains("was pruned"), "{err}");
    assert!(
        err.contains(&cutoff.to_rfc3339()),
        "names the cutoff {cutoff}: {err}"
    );
    assert_eq!(before_cutoff.stdout(), "", "writes nothing");
    assert_eq!(after_cutoff, whole);
}

#[tokio::test]
async fn export_moves_a_projects_history_to_another_database() {
    // Arrange: two snapshots in one database.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let source = spawn_app().await;
    import(&source, &a, &project, "2026-11-01T00:00:00Z").await;
    import(&source, &b, &project, "2026-11-08T00:00:00Z").await;

    // Act: export at each observed time, import there.
    let target = spawn_app().await;
    for at in ["2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"] {
        let (state, _) = export(&source, &project, &["--as-of", at]).await;
        import(&target, &state, &project, at).await;
    }

    // Assert: the same versions, less the flags the export cannot carry.
    let versions = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            let mut all = Vec::new();
            for table in crate::helpers::TABLES {
                if table == "projects" || table == "integrations" {
                    continue; // not in a List installations response
                }
                let rows: Vec<Value> = sqlx::query_scalar(&format!(
                    "SELECT to_jsonb(h) - 'sync_run_id' - 'first_seen_at' - 'changed_at' - 'deleted_at'
                            - 'content_hash' - 'row_hash' - 'has_access_token' - 'has_refresh_token' - 'has_api_key'
                     FROM ampersand.{table}_history h
                     ORDER BY valid_from, to_jsonb(h)::text"
                ))
                .fetch_all(&pool)
                .await
                .unwrap();
                all.extend(rows);
            }
            all
        }
    };
    assert_eq!(versions(&target).await, versions(&source).await);
}

// ---------------------------------------------------------------------------------
// Streaming, secrets, the reader role, the CLI.

#[tokio::test]
async fn a_large_export_streams_with_flat_memory() {
    // Arrange: 20,000 installations from the fixtures (about 2.3 KB of JSON each),
    // written element by element: the peak RSS `wait4` reports includes this process's
    // at the spawn, so it must not hold the array either.
    const N: usize = 20_000;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        out.write_all(b"[").unwrap();
        for i in 0..N {
            if i > 0 {
                out.write_all(b",").unwrap();
            }
            serde_json::to_writer(&mut out, &fixtures::installation(i)).unwrap();
        }
        out.write_all(b"]").unwrap();
    }
    let input = input.display().to_string();
    app.ampsync(&[
        "import",
        &input,
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
    .success();
    // The baseline: ten installations of a second project (ids are global keys).
    let mut small_text = fixtures::installations(0..10)
        .to_string()
        .replace(PROJECT_ID, "proj-small");
    for id in ["\"papp-", "\"conn-", "\"inst-", "\"cfg-"] {
        small_text = small_text.replace(id, &format!("{id}small-"));
    }
    let small_project: Value = serde_json::from_str(&small_text).unwrap();
    import(&app, &small_project, "proj-small", "2026-11-01T00:00:00Z").await;
    let (small, large) = (dir.path().join("small.json"), dir.path().join("large.json"));

    // Act: a small export for the baseline, then the large one.
    let (run, small_rss) = app
        .ampsync_measured(
            &[
                "export",
                "--project",
                "proj-small",
                "--output",
                &small.display().to_string(),
            ],
            &[],
        )
        .await;
    run.success();
    let started = std::time::Instant::now();
    let (run, large_rss) = app
        .ampsync_measured(
            &[
                "export",
                "--project",
                PROJECT_ID,
                "--output",
                &large.display().to_string(),
            ],
            &[],
        )
        .await;
    let elapsed = started.elapsed();
    run.success();

    // Assert: every installation written, one per line; memory far below the array's
    // size, and hardly above the small export's.
    // Read line by line: this process holding the 46 MB would show in the peak RSS
    // that other tests measure (`wait4` counts the parent's memory at the spawn).
    let size = std::fs::metadata(&large).unwrap().len();
    let (mut lines, mut first, mut last, mut checked) = (0, String::new(), String::new(), 0);
    use std::io::BufRead;
    for line in std::io::BufReader::new(std::fs::File::open(&large).unwrap()).lines() {
        let line = line.unwrap();
        if lines == 0 {
            first = line.clone();
        } else if lines % 5000 == 1 && lines <= N {
            let inst: Value = serde_json::from_str(line.trim_end_matches(',')).unwrap();
            assert!(
                inst["connection"]["oauth2AuthorizationCode"]["accessToken"]["issuedAt"]
                    .is_string()
            );
            checked += 1;
        }
        lines += 1;
        last = line;
    }
    assert_eq!((first.as_str(), last.as_str()), ("[", "]"));
    assert_eq!(lines, N + 2, "one installation per line");
    assert_eq!(checked, 4);
    eprintln!(
        "export of {N}: {size} bytes in {elapsed:?}, peak RSS {:.1} MB (10 installations: {:.1} MB)",
        large_rss as f64 / 1e6,
        small_rss as f64 / 1e6
    );
    assert!(size > 40_000_000, "{size}");
    assert!(
        large_rss < small_rss + (16 << 20) && large_rss < 96 << 20,
        "peak RSS {large_rss} for {N} installations ({size} bytes), {small_rss} for 10"
    );
}

#[tokio::test]
async fn no_secret_of_the_input_appears_in_the_export() {
    // Arrange: the fixtures' tokens, API keys, client secrets, plus secrets at odd places.
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dGhpc2lzYXNpZ25hdHVyZXRoYXRsb29rc3JlYWw";
    let mut payload = fixtures::installations(0..10);
    let list = payload.as_array_mut().unwrap();
    list[0]["connection"]["providerMetadata"]["session"] = json!({"value": jwt, "source": "token"});
    list[1]["vendorAuth"] = json!({"deep": [{"x-api-key": "ak_live_7Hq2Lr9Xv4Nw8Pt1"}], "Authorization": "Bearer sk-ant-4f7d9a2b8c1e"});
    list[2]["config"]["content"]["write"] =
        json!({"objects": {"lead": {"dbPassword": "hunter2-Qx7!vL9#mP3"}}});
    list[3]["connection"]["oauth2AuthorizationCode"]["idToken"] = json!("id-tok-9Zp3Wq7Lk2Jh5Gf8");
    list[4]["group"]["groupName"] = json!("Acme Bearer sk-ant-api03-Zx81Lq");
    let mut secrets = fixtures::secrets_in(&payload);
    secrets.extend([
        jwt.to_string(),
        "sk-ant-4f7d9a2b8c1e".into(),
        "sk-ant-api03-Zx81Lq".into(),
    ]);
    assert!(secrets.len() > 20, "{}", secrets.len());
    let app = spawn_app_with(json!([])).await;
    import(&app, &payload, PROJECT_ID, "2026-11-01T00:00:00Z").await;

    // Act
    let run = app
        .ampsync(&["export", "--project", PROJECT_ID, "-vv"])
        .await
        .success();

    // Assert
    let (out, logs) = (run.stdout(), run.stderr());
    assert!(
        out.contains("conn-00001") && out.contains("accessToken"),
        "real content: {out}"
    );
    assert_holds_no_secret("the export", &out, &secrets);
    assert_holds_no_secret("the logs", &logs, &secrets);
    for field in [
        "\"token\":",
        "\"apiKey\":",
        "has_access_token",
        "hasAccessToken",
        "has_api_key",
        "client_secret",
    ] {
        assert!(!out.contains(field), "the export holds {field}");
    }
}

#[tokio::test]
async fn the_reader_role_can_export_and_the_export_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    crate::sql_files::import_samples(&app).await;
    let reader = crate::sql_files::reader_role(&app).await;
    // pg_dump's \restrict lines carry a random key each time.
    let dump = || async {
        let text = app.dump().await;
        text.lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = dump().await;
    let url = crate::helpers::database_url(&reader.login, &app.db_name);

    // Act
    let run = app
        .ampsync_env(
            &["export", "--project", "proj-7c1e2a90"],
            &[("DATABASE_URL", &url)],
        )
        .await;

    // Assert
    let run = run.success();
    let exported: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 61);
    assert!(dump().await == before, "an export writes nothing");
    crate::sql_files::drop_roles(&app, reader).await;
}

#[tokio::test]
async fn output_is_written_whole_or_not_at_all_and_errors_have_the_documented_exit_codes() {
    // Arrange
    let app = spawn_app().await;
    import(
        &app,
        &fixtures::installations(0..4),
        PROJECT_ID,
        "2026-11-01T00:00:00Z",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(&file, "the previous export").unwrap();
    let path = file.display().to_string();

    // Act and assert: a good export replaces the file, leaving no temporary one behind.
    let run = app
        .ampsync(&["export", "--project", PROJECT_ID, "--output", &path])
        .await
        .success();
    assert_eq!(run.stdout(), "", "data goes to the file");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap().len(), 4);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let exported = run.logged("exported");
    assert_eq!(exported.len(), 1, "{}", run.stderr());
    assert_eq!(exported[0]["installations"], 4);

    // A time that is not RFC 3339 is a usage error; nothing is written.
    for bad in ["yesterday", "2026-11-01", "2026-11-01 00:00:00"] {
        let run = app
            .ampsync(&[
                "export",
                "--project",
                PROJECT_ID,
                "--as-of",
                bad,
                "--output",
                &path,
            ])
            .await;
        assert_eq!(run.code(), 2, "{bad}: {}", run.stderr());
        assert!(run.stderr().contains("RFC 3339"), "{}", run.stderr());
    }
    // A project the database does not hold, and a time before its first snapshot.
    let run = app
        .ampsync(&["export", "--project", "acme-typo", "--output", &path])
        .await;
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains(PROJECT_ID),
        "names the projects it holds: {}",
        run.stderr()
    );
    let run = app
        .ampsync(&[
            "export",
            "--project",
            PROJECT_ID,
            "--as-of",
            "2020-01-01T00:00:00Z",
            "--output",
            &path,
        ])
        .await;
    assert_eq!(run.code(), 2, "{}", run.stderr());
    // A database that cannot be read fails the run; the file is as it was.
    let run = app
        .ampsync_env(
            &["export", "--project", PROJECT_ID, "--output", &path],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")],
        )
        .await;
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(after, written);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    // An empty project exports as an empty array.
    let empty = spawn_app().await;
    import(&empty, &json!([]), "proj-empty", "2026-11-01T00:00:00Z").await;
    let (value, text) = export(&empty, "proj-empty", &[]).await;
    assert_eq!(value, json!([]));
    assert_eq!(text, "[]\n");
}
