//! `ampsync check`: each prerequisite of a sync checked against the real thing, one test
//! per failure (a refused key, a closed API port, a closed Postgres port, a database a
//! newer release migrated, a role without privileges, a full or unwritable TMPDIR, a held
//! lock), the all-ok case, the JSON form, usage errors, and that it writes nothing.

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::fixtures::{PROJECT_ID, PROJECT_NAME};
use crate::helpers::{
    admin_url, closed_port, database_url, exited_within, on_own_runtime, spawn_app,
    start_held_sync, Gate, Run, TestApp, API_KEY, FINISHES,
};
use crate::sql_files::{drop_roles, reader_role};

fn check_args() -> [&'static str; 3] {
    ["check", "--project", PROJECT_ID]
}

/// The report of `check --format json`, which is printed whatever the outcome.
fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| {
        panic!(
            "check --format json prints JSON ({e}):\n{}\n{}",
            run.stdout(),
            run.stderr()
        )
    })
}

/// The check named `name` of a JSON report.
fn named<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// The check `name` of a JSON report, which must have `status`; and its detail.
fn with_status<'r>(report: &'r Value, name: &str, status: &str) -> (&'r Value, &'r str) {
    let check = named(report, name);
    assert_eq!(check["status"], status, "{check}");
    (check, check["detail"].as_str().unwrap())
}

/// A text field of a check (`fix`), which must be there.
fn field<'c>(check: &'c Value, name: &str) -> &'c str {
    check[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {check}"))
}

/// `check --format json` with extra environment; its report.
async fn check_json(app: &TestApp, extra: &[&str], env: &[(&str, &str)]) -> (Run, Value) {
    let mut args = check_args().to_vec();
    args.extend(["--format", "json"]);
    args.extend(extra);
    let run = app.ampsync_env(&args, env).await;
    let report = report(&run);
    (run, report)
}

/// What `pg_dump` says of schema `ampersand`, less the random key pg_dump writes into
/// every dump (`\restrict KEY`): equal before and after when nothing was written.
async fn schema_dump(app: &TestApp) -> Vec<String> {
    app.dump()
        .await
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_owned)
        .collect()
}

/// Asserts that nothing changed between two dumps, naming only the lines that differ.
fn assert_unchanged(before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(
        before == after,
        "check wrote something: lines gone {gone:#?}, lines new {new:#?}"
    );
}

#[tokio::test]
async fn on_a_migrated_database_after_a_sync_every_check_passes_with_exit_0_and_nothing_is_written()
{
    // Arrange: what a job's database looks like after its first run, with a reader role.
    let app = spawn_app().await;
    app.sync().await;
    let reader = reader_role(&app).await;
    let reader_name = format!("{}_reader", app.db_name);
    let before = schema_dump(&app).await;

    // Act
    let run = app
        .ampsync(&[
            "check",
            "--project",
            PROJECT_ID,
            "--reader-role",
            &reader_name,
        ])
        .await;

    // Assert
    let out = run.stdout();
    assert_eq!(run.code(), 0, "{out}\n{}", run.stderr());
    for name in [
        "api",
        "postgres",
        "migrations",
        "privileges",
        "reader_role",
        "tmpdir",
        "lock",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(out.ends_with("all checks passed\n"), "{out}");
    assert!(
        out.contains(&format!("project {PROJECT_ID} ({PROJECT_NAME}) answered")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "the last run of project {PROJECT_ID} (run 1) took"
        )),
        "the room is measured against the recorded run: {out}"
    );
    let temp_bytes: Option<i64> =
        sqlx::query_scalar("SELECT temp_bytes FROM ampersand.sync_runs WHERE id = 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(temp_bytes.unwrap_or(0) > 0, "{temp_bytes:?}");
    assert_unchanged(&before, &schema_dump(&app).await);
    assert_eq!(app.runs().await.len(), 1);
    drop_roles(&app, reader).await;
}

#[tokio::test]
async fn on_a_database_never_migrated_check_creates_no_schema_and_reports_the_pending_migrations() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (run, report) = check_json(&app, &[], &[]).await;
    let (no_migrate, strict) = check_json(&app, &["--no-migrate"], &[]).await;

    // Assert: pending migrations are a warning, since a sync applies them first.
    assert_eq!(run.code(), 0, "{report:#}");
    assert_eq!(report["ok"], true);
    let (migrations, detail) = with_status(&report, "migrations", "warn");
    assert!(
        detail.starts_with("a database never migrated: all"),
        "{detail}"
    );
    assert!(field(migrations, "fix").contains("ampsync migrate"));
    // ...but fail a job that runs with --no-migrate.
    assert_eq!(no_migrate.code(), 1);
    assert_eq!(named(&strict, "migrations")["status"], "failed");
    let created = app
        .count(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'ampersand'
             UNION ALL SELECT 1 WHERE to_regclass('ampsync_schema_history') IS NOT NULL",
        )
        .await;
    assert_eq!(created, 0, "no schema, no migration history");
}

#[tokio::test]
async fn the_json_report_has_one_entry_per_check_with_stable_fields() {
    // Arrange
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();

    // Act
    let (run, report) = check_json(&app, &[], &[]).await;

    // Assert
    assert_eq!(run.code(), 0, "{report:#}");
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "api",
            "postgres",
            "migrations",
            "privileges",
            "reader_role",
            "tmpdir",
            "lock"
        ]
    );
    for check in report["checks"].as_array().unwrap() {
        let fields: Vec<&str> = check
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for field in &fields {
            assert!(
                ["name", "status", "detail", "fix", "project"].contains(field),
                "{check}"
            );
        }
        assert!(["ok", "warn", "failed", "skipped"].contains(&check["status"].as_str().unwrap()));
    }
    assert_eq!(named(&report, "api")["project"], PROJECT_ID);
    assert_eq!(named(&report, "lock")["project"], PROJECT_ID);
    // No reader role yet: a warning that says how to make one.
    let (reader, _) = with_status(&report, "reader_role", "warn");
    assert!(field(reader, "fix").contains("sql/roles.sql"));
}

#[tokio::test]
async fn a_key_the_api_refuses_fails_the_api_check_and_never_reaches_the_output() {
    // Arrange: a key shaped like a real one, which the fake API answers with 401.
    let app = spawn_app().await;
    let wrong = "amp_live_sk_0a1b2c3d4e5f60718293a4b5c6d7e8f9ABCDEFGH";

    // Act
    let (run, report) = check_json(&app, &[], &[("AMPERSAND_API_KEY", wrong)]).await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    assert_eq!(report["ok"], false);
    let (api, detail) = with_status(&report, "api", "failed");
    assert!(
        detail.contains("the API refused the key (401 Unauthorized)"),
        "{detail}"
    );
    assert!(field(api, "fix").contains("AMPERSAND_API_KEY"));
    for key in [wrong, API_KEY] {
        assert!(!run.stdout().contains(key), "{}", run.stdout());
        assert!(!run.stderr().contains(key), "{}", run.stderr());
    }
    // The rest was still checked.
    assert_eq!(named(&report, "postgres")["status"], "ok");
}

#[tokio::test]
async fn a_closed_api_port_fails_the_api_check_as_unreachable_and_the_rest_is_still_checked() {
    // Arrange
    let app = spawn_app().await;
    let url = format!("http://127.0.0.1:{}/v1", closed_port());

    // Act
    let (run, report) = check_json(
        &app,
        &[],
        &[("AMPERSAND_API_URL", &url), ("AMPSYNC_RETRY_ATTEMPTS", "2")],
    )
    .await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (api, detail) = with_status(&report, "api", "failed");
    assert!(
        detail.starts_with("the API could not be reached"),
        "{detail}"
    );
    assert!(field(api, "fix").contains("AMPERSAND_API_URL"));
    assert_eq!(named(&report, "postgres")["status"], "ok");
    // Without the API's answer the lock is looked up by the text given.
    assert_eq!(named(&report, "lock")["status"], "ok");
}

#[tokio::test]
async fn a_closed_postgres_port_fails_the_postgres_check_skips_what_needs_it_and_hides_the_password(
) {
    // Arrange
    let app = spawn_app().await;
    let password = "Pg-s3cr3t-Q9wX7vL2zz";
    let url = format!(
        "postgres://postgres:{password}@127.0.0.1:{}/x",
        closed_port()
    );

    // Act
    let (run, report) = check_json(&app, &[], &[("DATABASE_URL", &url)]).await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (postgres, detail) = with_status(&report, "postgres", "failed");
    assert!(
        detail.contains("could not connect to Postgres at postgres@127.0.0.1:"),
        "{detail}"
    );
    assert!(field(postgres, "fix").contains("DATABASE_URL"));
    for name in ["migrations", "privileges", "reader_role", "lock"] {
        assert_eq!(named(&report, name)["status"], "skipped", "{name}");
    }
    assert_eq!(named(&report, "api")["status"], "ok");
    // TMPDIR is still checked, without the last run to measure it against.
    let (_, detail) = with_status(&report, "tmpdir", "warn");
    assert!(
        detail.contains(
            "the last run's temporary files could not be read: Postgres could not be reached"
        ),
        "{detail}"
    );
    assert!(!run.stdout().contains(password) && !run.stderr().contains(password));
}

/// Records in the database's migration history a migration this binary does not have,
/// as a newer release would, with a run of that release.
async fn migrate_as_a_newer_release(app: &TestApp) {
    app.ampsync(&["migrate"]).await.success();
    sqlx::query(
        "INSERT INTO ampsync_schema_history (version, name, applied_on, checksum)
         VALUES (99, 'from_the_future', '2027-06-01T00:00:00Z', '1')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ampersand.sync_runs (command, project, observed_at, status, tool_version)
         VALUES ('sync', 'proj-elsewhere', now(), 'succeeded', '0.9.1')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_database_a_newer_release_migrated_fails_check_and_migrate_and_sync_with_or_without_migrating_refuse_it(
) {
    // Arrange
    let app = spawn_app().await;
    migrate_as_a_newer_release(&app).await;
    let runs = app.runs().await;
    let before = schema_dump(&app).await;

    // Act
    let (run, report) = check_json(&app, &[], &[]).await;
    let migrate = app.ampsync(&["migrate"]).await;
    let sync = app.ampsync(&["sync", "--project", PROJECT_ID]).await;
    let unmigrated = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--no-migrate"])
        .await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (migrations, detail) = with_status(&report, "migrations", "failed");
    let found = "the database was migrated by a newer release of ampsync: it has migration V99 (from_the_future), and this ampsync 0.4.0 knows migrations up to V13 (run_temp_bytes)";
    assert_eq!(detail, found);
    let upgrade = "upgrade ampsync to 0.9.1 or later";
    assert!(
        field(migrations, "fix").starts_with(upgrade),
        "{migrations}"
    );
    for refused in [&migrate, &sync, &unmigrated] {
        assert_eq!(refused.code(), 1, "{}", refused.stderr());
        assert!(
            refused
                .stderr()
                .contains(&format!("ampsync: {found}; {upgrade}")),
            "{}",
            refused.stderr()
        );
    }
    assert_eq!(app.runs().await, runs, "no run was recorded");
    assert_unchanged(&before, &schema_dump(&app).await);
}

/// A login role with no grants at all. Roles are cluster-wide: it is dropped when the
/// guard goes, test passed or not.
struct BareRole {
    name: String,
    db_url: String,
}

impl BareRole {
    async fn create(app: &TestApp) -> BareRole {
        let name = format!("{}_bare", app.db_name);
        sqlx::query(&format!("CREATE ROLE {name} LOGIN"))
            .execute(&app.pool)
            .await
            .unwrap();
        BareRole {
            name,
            db_url: app.database_url.clone(),
        }
    }
}

impl Drop for BareRole {
    fn drop(&mut self) {
        let (name, db_url) = (self.name.clone(), self.db_url.clone());
        on_own_runtime(move || async move {
            if let Ok(mut conn) = PgConnection::connect(&db_url).await {
                let _ = sqlx::query(&format!("DROP OWNED BY {name}"))
                    .execute(&mut conn)
                    .await;
            }
            if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

#[tokio::test]
async fn a_role_without_privileges_fails_the_privileges_check_with_the_grants_to_run() {
    // Arrange: the schema as its owner migrated it; the job connects as a bare role.
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    let role = BareRole::create(&app).await;
    let url = database_url(&role.name, &app.db_name);

    // Act
    let (run, report) = check_json(&app, &[], &[("DATABASE_URL", &url)]).await;
    let (_, no_migrate) = check_json(&app, &["--no-migrate"], &[("DATABASE_URL", &url)]).await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (privileges, detail) = with_status(&report, "privileges", "failed");
    assert!(
        detail.starts_with(&format!("role {} lacks", role.name)),
        "{detail}"
    );
    assert!(
        detail.contains("the rights of schema ampersand's owner postgres"),
        "{detail}"
    );
    assert!(detail.contains("USAGE on schema ampersand"), "{detail}");
    let fix = field(privileges, "fix");
    assert!(
        fix.contains(&format!("GRANT postgres TO {}", role.name)),
        "{fix}"
    );
    assert!(
        fix.contains(&format!("GRANT USAGE ON SCHEMA ampersand TO {}", role.name)),
        "{fix}"
    );
    // A job with --no-migrate needs no owner's rights, only the tables'.
    let (_, detail) = with_status(&no_migrate, "privileges", "failed");
    assert!(!detail.contains("owner"), "{detail}");
    drop(role);
}

#[tokio::test]
async fn a_tmpdir_without_room_for_the_last_runs_temporary_files_fails_and_says_to_free_space() {
    // Arrange: a run that recorded its temporary files.
    let app = spawn_app().await;
    app.sync().await;
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();

    // Act: the test seam stands for a nearly full disk.
    let (full, report) = check_json(
        &app,
        &[],
        &[("TMPDIR", tmpdir), ("AMPSYNC_CHECK_FREE_BYTES", "1000")],
    )
    .await;
    let (_, roomy) = check_json(
        &app,
        &[],
        &[
            ("TMPDIR", tmpdir),
            ("AMPSYNC_CHECK_FREE_BYTES", "1000000000000"),
        ],
    )
    .await;

    // Assert
    assert_eq!(full.code(), 1, "{report:#}");
    let (check, detail) = with_status(&report, "tmpdir", "failed");
    assert!(
        detail.starts_with(&format!("TMPDIR {tmpdir} is writable, 1000 B free, but the last run of project {PROJECT_ID} (run 1) took")),
        "{detail}"
    );
    assert!(
        field(check, "fix").starts_with(&format!("free space in {tmpdir}, or point TMPDIR at")),
        "{check}"
    );
    assert_eq!(named(&roomy, "tmpdir")["status"], "ok");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the probe file is gone"
    );
}

#[tokio::test]
async fn a_tmpdir_that_takes_no_file_fails_the_tmpdir_check() {
    // Arrange
    let app = spawn_app().await;
    let missing = tempfile::tempdir().unwrap().path().join("gone");

    // Act
    let (run, report) = check_json(&app, &[], &[("TMPDIR", missing.to_str().unwrap())]).await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (_, detail) = with_status(&report, "tmpdir", "failed");
    assert!(detail.contains("does not take a file"), "{detail}");
}

#[tokio::test]
async fn a_held_lock_fails_the_lock_check_naming_the_run_its_host_and_pid_and_the_run_goes_on() {
    // Arrange: a sync held mid-fetch, with the project's lock taken.
    let app = spawn_app().await;
    let gate = Gate::new();
    let held = start_held_sync(&app, &gate).await;
    let pid = held.id().unwrap();

    // Act
    let (run, report) = check_json(&app, &[], &[]).await;
    gate.open();
    let held = exited_within(held, FINISHES).await;
    let (_, after) = check_json(&app, &[], &[]).await;

    // Assert
    assert_eq!(run.code(), 1, "{report:#}");
    let (lock, detail) = with_status(&report, "lock", "failed");
    let host = hostname::get().unwrap().to_string_lossy().into_owned();

    assert!(detail.starts_with("sync run 1 started at "), "{detail}");
    assert!(
        detail.contains(&format!(
            "on {host} (pid {pid}) holds the lock of project {PROJECT_ID}"
        )),
        "{detail}"
    );
    assert!(field(lock, "fix").contains("--wait"), "{lock}");
    // The check took nothing from the run it found.
    held.success();
    assert_eq!(app.runs().await.len(), 1);
    assert_eq!(named(&after, "lock")["status"], "ok");
}

#[tokio::test]
async fn bad_usage_and_configuration_errors_exit_2() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let bad_format = app
        .ampsync(&["check", "--project", PROJECT_ID, "--format", "yaml"])
        .await;
    let no_project = app.ampsync(&["check"]).await;
    let no_key = app
        .ampsync_env(&check_args(), &[("AMPERSAND_API_KEY", "")])
        .await;
    let bad_url = app
        .ampsync_env(
            &check_args(),
            &[("DATABASE_URL", "postgres://u@db:notaport/x")],
        )
        .await;

    // Assert
    for (what, run) in [
        ("--format yaml", &bad_format),
        ("no project", &no_project),
        ("no key", &no_key),
        ("a DATABASE_URL that is no URL", &bad_url),
    ] {
        assert_eq!(run.code(), 2, "{what}: {}", run.stderr());
        assert!(run.stdout().is_empty(), "{what}: {}", run.stdout());
    }
    assert!(
        no_key.stderr().contains("no API key"),
        "{}",
        no_key.stderr()
    );
}

#[tokio::test]
async fn the_postgres_check_names_the_server_major_and_whether_the_connection_is_encrypted() {
    // Arrange: the local server offers TLS (see postgres_connection.rs).
    let app = spawn_app().await;
    let tls = format!("{}?sslmode=require", app.database_url);
    let plain = format!("{}?sslmode=disable", app.database_url);

    // Act
    let (_, encrypted) = check_json(&app, &[], &[("DATABASE_URL", &tls)]).await;
    let (_, unencrypted) = check_json(&app, &[], &[("DATABASE_URL", &plain)]).await;

    // Assert
    let major: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let (_, detail) = with_status(&encrypted, "postgres", "ok");
    assert!(
        detail.contains(&format!("(major {major}, supported: 14-18)")),
        "{detail}"
    );
    assert!(detail.contains("connection TLS (TLSv1."), "{detail}");
    let (_, detail) = with_status(&unencrypted, "postgres", "ok");
    assert!(detail.ends_with("connection not encrypted"), "{detail}");
}
