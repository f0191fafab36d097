//! The crash matrix: a run stopped at each boundary of a run (the failpoints of
//! `ampsync::failpoints`), once by a panic and once by a hard process exit, then run
//! again on the same snapshot. Afterwards every synced table, current and history, and
//! the ledger of successful runs must equal a database to which the same two snapshots
//! were applied cleanly, and no run may be left `running`.
//!
//! The snapshots are files imported with `--observed-at`, so that every time the tables
//! hold (`first_seen_at`, `changed_at`, `deleted_at`, `valid_from`, `valid_to`: all
//! taken from the observed time) is the same in both databases and compared as is.
//! What legitimately differs is left out, and only that:
//! - run ids: the crashed run took an id, so the rerun's is one higher. Every
//!   `sync_run_id` is compared as the observed time of the run it names instead, which
//!   still says which snapshot wrote the row;
//! - of `sync_runs`, the id and what the clock and the process give (`started_at`,
//!   `finished_at`, `host`, `pid`), and the crashed run's own row, which the clean
//!   database does not have (checked apart: it must end `abandoned`).

use std::collections::BTreeMap;

use ampsync::failpoints::EXIT;
use serde_json::{json, Value};

use crate::fixtures::{embedded_connections, installations, lone_connection, PROJECT_ID};
use crate::helpers::{spawn_app, Run, TestApp, TABLES};

/// The tables to which the second snapshot writes rows other than deletions.
const STAGED_TABLES: usize = 5;

const FIRST_AT: &str = "2026-11-01T00:00:00Z";
const SECOND_AT: &str = "2026-11-08T00:00:00Z";

/// How the crashed run is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// fail's `panic`: the panic unwinds, dropping the connection mid-transaction.
    Panic,
    /// fail's `return`, which our failpoints turn into `std::process::exit`: no
    /// destructor runs, the kernel closes the socket, as after `kill -9`.
    Exit,
}

impl Stop {
    fn action(self) -> &'static str {
        match self {
            Stop::Panic => "panic",
            Stop::Exit => "return",
        }
    }
}

/// Two snapshots of the standard project saved as files: the second, relative to the
/// first, inserts, updates and deletes rows in most tables.
struct Snapshots {
    dir: tempfile::TempDir,
}

impl Snapshots {
    fn new() -> Snapshots {
        let dir = tempfile::tempdir().unwrap();
        // First: installations 0..20 and their connections, plus two connections that
        // no installation uses (each with its own group and consumer).
        let first = installations(0..20);
        let mut first_connections = embedded_connections(&first);
        first_connections.extend([
            lone_connection(1, "grp-lone-1"),
            lone_connection(2, "grp-lone-2"),
        ]);

        // Second: installations 0..3 are gone (and with them connection 0 and configs
        // 0..3), 20..24 are new, installation 5, connection 4 (both its installations'
        // copies) and the config of 6 changed; lone connection 2 (its group and
        // consumer with it) is gone from the list; the project and an integration
        // were renamed.
        let mut second = installations(3..24);
        let list = second.as_array_mut().unwrap();
        list[5 - 3]["healthStatus"] = json!("degraded");
        for i in [8, 9] {
            list[i - 3]["connection"]["status"] = json!("bad_credentials");
            list[i - 3]["connection"]["updateTime"] = json!("2026-11-05T00:00:00Z");
        }
        list[6 - 3]["config"]["content"]["read"]["objects"]["account"]["schedule"] =
            json!("0 * * * *");
        let mut second_connections = embedded_connections(&second);
        second_connections.push(lone_connection(1, "grp-lone-1"));
        let mut project = crate::fixtures::project();
        project["name"] = json!("acme-production");
        project["updateTime"] = json!("2026-11-02T00:00:00Z");
        let mut integrations = crate::fixtures::integrations();
        integrations[1]["name"] = json!("salesforce-marketing-eu");
        integrations[1]["updateTime"] = json!("2026-11-03T00:00:00Z");

        let snapshots = Snapshots { dir };
        snapshots.write("1-installations.json", &first);
        snapshots.write("1-connections.json", &Value::Array(first_connections));
        snapshots.write("1-project.json", &crate::fixtures::project());
        snapshots.write("1-integrations.json", &crate::fixtures::integrations());
        snapshots.write("2-installations.json", &second);
        snapshots.write("2-connections.json", &Value::Array(second_connections));
        snapshots.write("2-project.json", &project);
        snapshots.write("2-integrations.json", &integrations);
        snapshots
    }

    fn write(&self, name: &str, value: &Value) {
        std::fs::write(
            self.dir.path().join(name),
            serde_json::to_vec(value).unwrap(),
        )
        .unwrap();
    }

    /// `ampsync import` of snapshot `n` (1 or 2). `--wait`: a rerun right after a crash
    /// may find the dead run's session still holding the lock for a moment.
    fn import(&self, n: usize) -> Vec<String> {
        let file = |what: &str| {
            self.dir
                .path()
                .join(format!("{n}-{what}.json"))
                .to_string_lossy()
                .into_owned()
        };
        let at = [FIRST_AT, SECOND_AT][n - 1];
        vec![
            "import".into(),
            file("installations"),
            "--project".into(),
            PROJECT_ID.into(),
            "--observed-at".into(),
            at.into(),
            "--project-file".into(),
            file("project"),
            "--integrations-file".into(),
            file("integrations"),
            "--connections-file".into(),
            file("connections"),
            "--wait".into(),
        ]
    }
}

async fn ampsync(app: &TestApp, args: &[String], env: &[(&str, &str)]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    app.ampsync_env(&args, env).await
}

/// Every synced table and its history, each row as JSON with its `sync_run_id`
/// replaced by the observed time of that run, in a stable order.
async fn tables(app: &TestApp) -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for table in TABLES {
        for name in [table.to_string(), format!("{table}_history")] {
            let rows: Vec<Value> = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t) - 'sync_run_id' || jsonb_build_object('run_observed_at', r.observed_at)
                 FROM ampersand.{name} t LEFT JOIN ampersand.sync_runs r ON r.id = t.sync_run_id
                 ORDER BY to_jsonb(t)::text"
            ))
            .fetch_all(&app.pool)
            .await
            .unwrap();
            all.insert(name, rows);
        }
    }
    all
}

/// The runs that count (all but `abandoned` ones), in order, as what they recorded:
/// everything but the id and what the clock and the process give.
async fn ledger(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT to_jsonb(r) - 'id' - 'started_at' - 'finished_at' - 'host' - 'pid'
         FROM ampersand.sync_runs r WHERE status <> 'abandoned' ORDER BY observed_at, id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Every run's observed time and status, in order.
async fn statuses(app: &TestApp) -> Vec<(String, String)> {
    let rows: Vec<(chrono::DateTime<chrono::Utc>, String)> =
        sqlx::query_as("SELECT observed_at, status FROM ampersand.sync_runs ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(at, status)| (at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), status))
        .collect()
}

/// `(observed time, status)` pairs as [`statuses`] gives them.
fn runs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(at, status)| (at.to_string(), status.to_string()))
        .collect()
}

/// The whole matrix cell: a clean database that got both snapshots; one whose second
/// run stopped at `point`, then ran again.
async fn crash_and_rerun(point: &str, stop: Stop) {
    // Arrange: the clean database, and the crashed one's first, clean, run.
    let snapshots = Snapshots::new();
    let clean = spawn_app().await;
    ampsync(&clean, &snapshots.import(1), &[]).await.success();
    ampsync(&clean, &snapshots.import(2), &[]).await.success();
    let crashed = spawn_app().await;
    ampsync(&crashed, &snapshots.import(1), &[]).await.success();
    let before = tables(&crashed).await;
    let committed = point == "after-commit";

    // Act 1: the second snapshot, stopped at `point`.
    let failpoints = match point {
        // At the last of the tables the second snapshot stages (see
        // `the_second_snapshot_changes_every_kind_of_row_the_matrix_checks`): the rows
        // and history of the four before it are written by then, inside the transaction,
        // so a run that made any of them visible early would show here.
        "mid-copy" | "after-staging" => {
            format!("{point}={}*off->{}", STAGED_TABLES - 1, stop.action())
        }
        _ => format!("{point}={}", stop.action()),
    };
    let run = ampsync(
        &crashed,
        &snapshots.import(2),
        &[("FAILPOINTS", &failpoints)],
    )
    .await;

    // Assert 1: it stopped there, the way asked.
    match stop {
        Stop::Panic => {
            let stderr = run.stderr();
            assert_eq!(run.code(), 1, "{point}: {stderr}");
            assert!(
                stderr.contains("internal error (a bug; please report it)")
                    && stderr.contains(&format!("failpoint {point} panic")),
                "{point}: {stderr}"
            );
        }
        Stop::Exit => assert_eq!(run.code(), EXIT, "{point}: {}", run.stderr()),
    }
    // Nothing of it is visible before its commit, and all of it after.
    let after_crash = tables(&crashed).await;
    if committed {
        assert_eq!(
            after_crash,
            tables(&clean).await,
            "{point}: not all visible"
        );
        assert_eq!(
            statuses(&crashed).await,
            runs(&[(FIRST_AT, "succeeded"), (SECOND_AT, "succeeded")]),
            "{point}: the run's mark is committed with its data"
        );
    } else {
        assert_eq!(after_crash, before, "{point}: partly visible");
        assert_eq!(
            statuses(&crashed).await,
            runs(&[(FIRST_AT, "succeeded"), (SECOND_AT, "running")]),
            "{point}: the crashed run had no chance to record anything"
        );
    }

    // Act 2: the same snapshot again, without failpoints.
    let rerun = ampsync(&crashed, &snapshots.import(2), &[]).await.success();

    // Assert 2: the tables and the ledger are the clean database's, exactly.
    assert_eq!(tables(&crashed).await, tables(&clean).await, "{point}");
    assert_eq!(ledger(&crashed).await, ledger(&clean).await, "{point}");
    let expected: &[(&str, &str)] = if committed {
        // Applied exactly once: the rerun finds the snapshot applied and skips it, so it
        // writes no second version of anything.
        assert!(
            rerun.stdout().contains("already applied; skipped"),
            "{}",
            rerun.stdout()
        );
        &[(FIRST_AT, "succeeded"), (SECOND_AT, "succeeded")]
    } else {
        &[
            (FIRST_AT, "succeeded"),
            (SECOND_AT, "abandoned"),
            (SECOND_AT, "succeeded"),
        ]
    };
    assert_eq!(
        statuses(&crashed).await,
        runs(expected),
        "{point}: no run left running"
    );
    let rejected: i64 = crashed
        .count("SELECT count(*) FROM ampersand.rejected_records")
        .await;
    assert_eq!(rejected, 0);
}

#[tokio::test]
async fn the_second_snapshot_changes_every_kind_of_row_the_matrix_checks() {
    // The matrix proves something only if the interrupted run has inserts, updates and
    // deletions to lose: this is what the clean second run recorded.
    let snapshots = Snapshots::new();
    let app = spawn_app().await;
    ampsync(&app, &snapshots.import(1), &[]).await.success();
    ampsync(&app, &snapshots.import(2), &[]).await.success();
    let counts: Value = sqlx::query_scalar(
        "SELECT counts FROM ampersand.sync_runs WHERE observed_at = $1::timestamptz",
    )
    .bind(SECOND_AT)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for (table, changes) in [
        (
            "installations",
            ["inserted", "updated", "deleted"].as_slice(),
        ),
        ("connections", &["inserted", "updated", "deleted"]),
        ("configs", &["inserted", "updated", "deleted"]),
        ("groups", &["deleted"]),
        ("consumers", &["deleted"]),
        ("projects", &["updated"]),
        ("integrations", &["updated"]),
    ] {
        for change in changes {
            assert!(
                counts[table][change].as_u64() > Some(0),
                "{table} {change}: {counts}"
            );
        }
    }
    let staged = counts
        .as_object()
        .unwrap()
        .values()
        .filter(|c| {
            ["inserted", "updated", "restored", "touched"]
                .iter()
                .any(|k| c[k].as_u64() > Some(0))
        })
        .count();
    assert_eq!(staged, STAGED_TABLES, "{counts}");
}

#[tokio::test]
async fn a_panic_after_fetch_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("after-fetch", Stop::Panic).await;
}

#[tokio::test]
async fn an_exit_after_fetch_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("after-fetch", Stop::Exit).await;
}

#[tokio::test]
async fn a_panic_mid_copy_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("mid-copy", Stop::Panic).await;
}

#[tokio::test]
async fn an_exit_mid_copy_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("mid-copy", Stop::Exit).await;
}

#[tokio::test]
async fn a_panic_after_staging_before_the_history_writes_then_a_rerun_leaves_the_tables_of_one_clean_run(
) {
    crash_and_rerun("after-staging", Stop::Panic).await;
}

#[tokio::test]
async fn an_exit_after_staging_before_the_history_writes_then_a_rerun_leaves_the_tables_of_one_clean_run(
) {
    crash_and_rerun("after-staging", Stop::Exit).await;
}

#[tokio::test]
async fn a_panic_before_commit_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("before-commit", Stop::Panic).await;
}

#[tokio::test]
async fn an_exit_before_commit_then_a_rerun_leaves_the_tables_of_one_clean_run() {
    crash_and_rerun("before-commit", Stop::Exit).await;
}

#[tokio::test]
async fn a_panic_after_commit_leaves_the_run_applied_once_and_the_rerun_writes_nothing() {
    crash_and_rerun("after-commit", Stop::Panic).await;
}

#[tokio::test]
async fn an_exit_after_commit_leaves_the_run_applied_once_and_the_rerun_writes_nothing() {
    crash_and_rerun("after-commit", Stop::Exit).await;
}

#[tokio::test]
async fn a_sync_that_exits_right_after_its_commit_is_recorded_succeeded_and_the_next_sync_writes_no_version(
) {
    // Arrange: a first sync; then installations go, change and come.
    let app = spawn_app().await;
    app.sync().await;
    let mut changed = installations(2..34);
    changed[0]["healthStatus"] = json!("degraded");
    app.api.set_installations(changed);
    let sync = ["sync", "--project", PROJECT_ID, "--wait"];

    // Act 1: the sync that applies the change exits as soon as it has committed.
    let crash = app
        .ampsync_env(&sync, &[("FAILPOINTS", "after-commit=return")])
        .await;
    assert_eq!(crash.code(), EXIT, "{}", crash.stderr());
    let applied = tables(&app).await;

    // Act 2: the same snapshot again.
    let rerun = app.ampsync(&sync).await.success();

    // Assert: the crashed run is a success, and the rerun changed nothing, not even a
    // run id: the change is there once, with one history version.
    assert!(rerun.stdout().contains("no changes"), "{}", rerun.stdout());
    assert_eq!(tables(&app).await, applied);
    let statuses: Vec<String> = statuses(&app).await.into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "succeeded"]);
    let versions = app
        .count("SELECT count(*) FROM ampersand.installations_history WHERE id = 'inst-00002'")
        .await;
    assert_eq!(versions, 2, "the insert and the update, once each");
}
