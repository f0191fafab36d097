//! The connection to Postgres as a user configures it: the migration connection (DDL as
//! the schema owner) and the data connection read one configuration, so `sslmode`, the
//! trust store and the `PG*` environment mean the same to both (with `sslmode=require`
//! both are encrypted); no form of the database password reaches stderr when something
//! goes wrong; and the migration history the earlier tokio-postgres driver wrote reads
//! as before.
//!
//! The TLS server is the local cluster. Its certificate is the self-signed "snakeoil" one,
//! issued for `localhost` and by no public CA: a server only its own CA file vouches for.

use sqlx::{Connection, PgConnection};

use crate::fixtures::PROJECT_ID;
use crate::helpers::{
    app_with_pending_changes, block_installation_writes, closed_port, eventually, exited_within,
    spawn_app, sync_args, unblock, waiting_on_lock, Run, TestApp, FINISHES,
};

/// The local server's certificate, which is also its own CA.
const SERVER_CA: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// This test's database by the name the server's certificate is issued for.
fn by_certificate_name(app: &TestApp) -> String {
    app.database_url.replace("@127.0.0.1:", "@localhost:")
}

/// Whether a migration ever ran in this test's database.
async fn migration_history_exists(app: &TestApp) -> bool {
    sqlx::query_scalar("SELECT to_regclass('public.ampsync_schema_history') IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// How many migrations the binary embeds.
fn embedded_migrations() -> i64 {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sql")
        })
        .count() as i64
}

/// The run failed (exit 1) because the server's certificate was not accepted, and said so.
fn assert_refused_the_certificate(run: &Run, reason: &str) {
    let stderr = run.stderr();
    assert_eq!(run.code(), 1, "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate") && stderr.contains(reason),
        "the message names the certificate problem: {stderr}"
    );
    assert!(stderr.contains("sslmode=verify-full"), "{stderr}");
}

/// With `refuse` the migration connection and then the data connection each refuse the
/// server; with `accept` each connects: migrations run, a sync stores the project.
/// Returns the two refused runs.
async fn both_connections_refuse_then_accept(
    app: &TestApp,
    refuse: &[(&str, &str)],
    accept: &[(&str, &str)],
) -> [Run; 2] {
    let sync = ["sync", "--project", PROJECT_ID, "--no-migrate"];

    // The migration connection.
    let migrate = app.ampsync_env(&["migrate"], refuse).await;
    assert_refused_the_certificate(&migrate, "UnknownIssuer");
    assert!(
        !migration_history_exists(app).await,
        "no migration ran over the refused connection"
    );
    app.ampsync_env(&["migrate"], accept).await.success();
    assert_eq!(
        app.count("SELECT count(*) FROM ampsync_schema_history")
            .await,
        embedded_migrations()
    );

    // The data connection: the migrations have run, so `--no-migrate` reaches it alone.
    let data = app.ampsync_env(&sync, refuse).await;
    assert_refused_the_certificate(&data, "UnknownIssuer");
    assert!(app.runs().await.is_empty(), "no run was recorded");
    app.ampsync_env(&sync, accept).await.success();
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
    [migrate, data]
}

#[tokio::test]
async fn with_sslmode_verify_full_in_the_url_both_connections_refuse_a_self_signed_server_until_sslrootcert_names_its_ca(
) {
    // Arrange: the password travels as a URL parameter (the server trusts local
    // connections and ignores it); the messages must not show it.
    let app = spawn_app().await;
    let password = "Pg-s3cr3t-Q9wX7vL2";
    let without_ca = format!(
        "{}?sslmode=verify-full&password={password}",
        by_certificate_name(&app)
    );
    let with_ca = format!("{without_ca}&sslrootcert={SERVER_CA}");

    // Act + Assert
    let refused = both_connections_refuse_then_accept(
        &app,
        &[("DATABASE_URL", &without_ca)],
        &[("DATABASE_URL", &with_ca)],
    )
    .await;
    for run in refused {
        assert!(!run.stderr().contains("Q9wX7vL2"), "{}", run.stderr());
    }
}

#[tokio::test]
async fn with_pgsslmode_verify_full_in_the_environment_both_connections_refuse_a_self_signed_server_until_pgsslrootcert_names_its_ca(
) {
    // Arrange: a URL that says nothing about TLS.
    let app = spawn_app().await;
    let url = by_certificate_name(&app);

    // Act + Assert
    both_connections_refuse_then_accept(
        &app,
        &[("DATABASE_URL", &url), ("PGSSLMODE", "verify-full")],
        &[
            ("DATABASE_URL", &url),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", SERVER_CA),
        ],
    )
    .await;
}

#[tokio::test]
async fn with_sslmode_verify_full_both_connections_refuse_a_certificate_issued_for_another_host_name(
) {
    // Arrange: the right CA, but the server is reached as 127.0.0.1 and its certificate
    // names only `localhost`.
    let app = spawn_app().await;
    let by_address = format!(
        "{}?sslmode=verify-full&sslrootcert={SERVER_CA}",
        app.database_url
    );
    let env = [("DATABASE_URL", by_address.as_str())];

    // Act
    let migrate = app.ampsync_env(&["migrate"], &env).await;
    app.ampsync(&["migrate"]).await.success();
    let sync = app
        .ampsync_env(&["sync", "--project", PROJECT_ID, "--no-migrate"], &env)
        .await;

    // Assert
    assert_refused_the_certificate(&migrate, "not valid for name");
    assert_refused_the_certificate(&sync, "not valid for name");
    assert!(app.runs().await.is_empty(), "no run was recorded");
}

#[tokio::test]
async fn a_pgsslmode_that_is_not_an_sslmode_is_a_configuration_error_rather_than_a_silent_prefer() {
    // Arrange: sqlx alone would read an unknown PGSSLMODE as `prefer`.
    let app = spawn_app().await;

    // Act
    let run = app
        .ampsync_env(&["migrate"], &[("PGSSLMODE", "verify_full")])
        .await;

    // Assert
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("PGSSLMODE `verify_full` is not an sslmode"),
        "{}",
        run.stderr()
    );
    assert!(!migration_history_exists(&app).await);
}

// ---------------------------------------------------------------------------------------
// The database password in errors

/// A realistic password with characters a URL must percent-encode, in both spellings.
const PASSWORD: &str = "Pg-s3cr3t/Q9wX7vL2";
const PASSWORD_IN_URL: &str = "Pg-s3cr3t%2FQ9wX7vL2";

/// Whether `text` holds any part of [`PASSWORD`] that would identify it.
fn holds_the_password(text: &str) -> bool {
    [PASSWORD, PASSWORD_IN_URL, "Q9wX7vL2", "s3cr3t"]
        .iter()
        .any(|form| text.contains(form))
}

#[tokio::test]
async fn when_postgres_cannot_be_reached_no_form_of_the_database_password_reaches_stderr() {
    // Arrange: the password in each place it can be given.
    let app = spawn_app().await;
    let port = closed_port();
    let at = format!("127.0.0.1:{port}/x");
    let query = format!("postgres://postgres@{at}?sslmode=prefer&password={PASSWORD_IN_URL}");
    let userinfo = format!("postgres://postgres:{PASSWORD_IN_URL}@{at}");
    let plain = format!("postgres://postgres@{at}");
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        ("a password= parameter", vec![("DATABASE_URL", &query)]),
        ("the userinfo", vec![("DATABASE_URL", &userinfo)]),
        (
            "PGPASSWORD",
            vec![("DATABASE_URL", &plain), ("PGPASSWORD", PASSWORD)],
        ),
    ];

    for (place, env) in &cases {
        for command in ["status", "migrate"] {
            // Act
            let run = app.ampsync_env(&[command], env).await;

            // Assert
            let stderr = run.stderr();
            let all = format!("{stderr}{}", run.stdout());
            assert_eq!(run.code(), 1, "{command}, password in {place}: {all}");
            assert!(
                stderr.contains(&format!("could not connect to Postgres at postgres@{at}")),
                "{command}, password in {place}: the error says where it could not connect: {stderr}"
            );
            assert!(
                run.logged("ampsync failed").len() == 1,
                "{command}, password in {place}: the JSON error line is there to check: {stderr}"
            );
            assert!(
                !holds_the_password(&all),
                "{command}, password in {place}: {all}"
            );
        }
    }
}

#[tokio::test]
async fn a_password_query_parameter_stays_out_of_even_trace_logs_of_a_run_that_succeeds() {
    // Arrange: the server trusts local connections, so the password is accepted and
    // ignored, and the run goes all the way while holding one.
    let app = spawn_app().await;
    let url = format!("{}?password={PASSWORD_IN_URL}", app.database_url);
    let env = [("DATABASE_URL", url.as_str()), ("RUST_LOG", "trace")];

    // Act
    let migrate = app.ampsync_env(&["migrate", "-vv"], &env).await.success();
    let sync = app
        .ampsync_env(&["sync", "--project", PROJECT_ID, "-vv"], &env)
        .await
        .success();

    // Assert
    for run in [&migrate, &sync] {
        let all = run.stderr() + &run.stdout();
        assert!(all.lines().count() > 10, "trace logging is on");
        assert!(!holds_the_password(&all), "{all}");
    }
}

/// The password a pgpass file gives the test server's connections.
const PGPASS_PASSWORD: &str = "Pgpass-S3cret-7Qx2Lm9Vw";
/// The last field of a pgpass line with too few fields, which sqlx would quote.
const PGPASS_TYPO: &str = "Pgpass-Typo-4Rt8Kd3Wq";

/// A pgpass file (mode 0600, as sqlx and libpq require) for the test server: first a line
/// with its database and user fields left out, then one that matches every database.
fn pgpass_file(dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let server = crate::helpers::server();
    let path = dir.join("pgpass");
    std::fs::write(
        &path,
        format!("# ampsync tests\n{server}:{PGPASS_TYPO}\n{server}:*:postgres:{PGPASS_PASSWORD}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn when_a_connection_fails_no_password_of_the_pgpass_file_reaches_stderr() {
    // Arrange: a database that does not exist, on a server the pgpass file has lines for.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let pgpass = pgpass_file(dir.path());
    let url = format!(
        "postgres://postgres@{}/no_such_database_7c1e",
        crate::helpers::server()
    );
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("PGPASSFILE", pgpass.as_str()),
    ];

    for command in ["status", "migrate"] {
        // Act
        let run = app.ampsync_env(&[command, "-vv"], &env).await;

        // Assert
        let all = run.stderr() + &run.stdout();
        assert_eq!(run.code(), 1, "{command}: {all}");
        assert!(all.contains("no_such_database_7c1e"), "{command}: {all}");
        assert!(
            !all.contains(PGPASS_PASSWORD) && !all.contains(PGPASS_TYPO),
            "{command}: {all}"
        );
        assert!(
            all.contains("a line of the pgpass file has fewer than five fields"),
            "{command}: the bad line is reported, by number: {all}"
        );
    }
}

#[tokio::test]
async fn the_password_sqlx_takes_from_pgpass_is_redacted_where_the_api_echoes_it() {
    // Arrange: the API sends the password back in a name and in a config.
    let mut installations = crate::fixtures::installations(0..2);
    installations[0]["group"]["groupName"] = serde_json::json!(format!("Acme {PGPASS_PASSWORD}"));
    installations[1]["config"]["content"]["note"] =
        serde_json::json!(format!("db login {PGPASS_PASSWORD}"));
    let app = crate::helpers::spawn_app_with(installations).await;
    let dir = tempfile::tempdir().unwrap();
    let pgpass = pgpass_file(dir.path());

    // Act
    let sync = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID, "-vv"],
            &[("PGPASSFILE", pgpass.as_str())],
        )
        .await
        .success();

    // Assert
    let dump = app.dump().await;
    assert!(
        dump.contains("Acme [redacted]"),
        "the name is kept, without the password"
    );
    assert!(!dump.contains(PGPASS_PASSWORD));
    let logs = sync.stderr() + &sync.stdout();
    assert!(
        !logs.contains(PGPASS_PASSWORD) && !logs.contains(PGPASS_TYPO),
        "{logs}"
    );
}

// ---------------------------------------------------------------------------------------
// Sessions that outlive their client

/// The settings each session of ampsync had when it wrote `sync_runs` or ran DDL (the
/// migration connection re-applies `sql/functions/` on every start), as
/// (application_name, backend pid, client_connection_check_interval,
/// tcp_keepalives_idle, tcp_keepalives_interval, tcp_keepalives_count), seen from the
/// session itself: triggers the test adds record `current_setting` there.
type SessionSettings = (String, i32, String, String, String, String);

async fn record_session_settings(app: &TestApp) {
    for statement in [
        "CREATE TABLE public.seen_settings (application text, pid int, check_interval text,
                                            idle text, every text, count text)",
        "CREATE FUNCTION public.save_settings() RETURNS void LANGUAGE sql AS $$
             INSERT INTO public.seen_settings VALUES (
                 current_setting('application_name'), pg_backend_pid(),
                 current_setting('client_connection_check_interval'),
                 current_setting('tcp_keepalives_idle'),
                 current_setting('tcp_keepalives_interval'),
                 current_setting('tcp_keepalives_count'))
         $$",
        "CREATE FUNCTION public.remember_settings() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.save_settings(); RETURN NULL; END $$",
        "CREATE TRIGGER remember_settings AFTER INSERT OR UPDATE ON ampersand.sync_runs
         FOR EACH ROW EXECUTE FUNCTION public.remember_settings()",
        "CREATE FUNCTION public.remember_ddl_settings() RETURNS event_trigger LANGUAGE plpgsql
         AS $$ BEGIN PERFORM public.save_settings(); END $$",
        "CREATE EVENT TRIGGER remember_ddl_settings ON ddl_command_end
         EXECUTE FUNCTION public.remember_ddl_settings()",
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
}

async fn seen_settings(app: &TestApp) -> Vec<SessionSettings> {
    let seen = sqlx::query_as("SELECT * FROM public.seen_settings")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    sqlx::query("TRUNCATE public.seen_settings")
        .execute(&app.pool)
        .await
        .unwrap();
    seen
}

#[tokio::test]
async fn every_session_asks_the_server_to_notice_a_dead_client_and_a_users_own_value_wins() {
    // Arrange
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    record_session_settings(&app).await;
    let sync = ["sync", "--project", PROJECT_ID];

    // Act: a run as configured, then one whose PGOPTIONS chooses its own interval.
    app.ampsync(&sync).await.success();
    let ours = seen_settings(&app).await;
    app.ampsync_env(
        &sync,
        &[("PGOPTIONS", "-c client_connection_check_interval=7s")],
    )
    .await
    .success();
    let users = seen_settings(&app).await;

    // Assert: every session (the migration's, the ledger's and the lock holder's that
    // applies the snapshot) asked for a check every 5 s and for keepalives; the user's
    // interval won over ours, and our keepalives still apply.
    let sessions = |seen: &[SessionSettings]| {
        let mut sessions: Vec<(String, i32)> = seen.iter().map(|s| (s.0.clone(), s.1)).collect();
        sessions.sort();
        sessions.dedup();
        sessions
            .into_iter()
            .map(|(application, _)| application)
            .collect::<Vec<_>>()
    };
    let expected = ["ampsync", "ampsync", "ampsync-migrate"];
    assert_eq!(sessions(&ours), expected, "{ours:?}");
    for (_, _, check, idle, every, count) in &ours {
        assert_eq!(
            (
                check.as_str(),
                idle.as_str(),
                every.as_str(),
                count.as_str()
            ),
            ("5s", "30", "10", "3")
        );
    }
    assert_eq!(sessions(&users), expected, "{users:?}");
    for (_, _, check, idle, every, count) in &users {
        assert_eq!(
            (
                check.as_str(),
                idle.as_str(),
                every.as_str(),
                count.as_str()
            ),
            ("7s", "30", "10", "3")
        );
    }
}

#[tokio::test]
async fn large_values_are_stored_lz4_compressed_unless_the_user_chose_a_compression() {
    // Arrange: a config whose content is large enough to be compressed (about 6 KB).
    let mut installations = crate::fixtures::installations(0..2);
    let fields: serde_json::Map<String, serde_json::Value> = (0..200)
        .map(|f| {
            (
                format!("field_{f:03}"),
                serde_json::json!({"fieldName": format!("custom_field_{f}__c")}),
            )
        })
        .collect();
    installations[0]["config"]["content"]["read"] =
        serde_json::json!({"objects": {"contact": {"selectedFields": fields}}});
    let app = crate::helpers::spawn_app_with(installations).await;
    let sync = ["sync", "--project", PROJECT_ID];
    let compression = |version: i64| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT pg_column_compression(h.content)::text FROM ampersand.configs_history AS h
                 JOIN ampersand.installations AS i ON i.config_id = h.id
                 WHERE i.id = 'inst-00000' ORDER BY h.valid_from OFFSET $1 LIMIT 1",
            )
            .bind(version)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };

    // Act: a run as configured; then, the content changed, one whose PGOPTIONS chooses pglz.
    app.ampsync(&sync).await.success();
    let mut changed = app.api.state.lock().unwrap().installations.clone();
    changed[0]["config"]["content"]["read"]["objects"]["contact"]["selectedFields"]["field_000"]
        ["fieldName"] = serde_json::json!("renamed__c");
    app.api.set_installations(changed);
    app.ampsync_env(&sync, &[("PGOPTIONS", "-c default_toast_compression=pglz")])
        .await
        .success();

    // Assert: lz4 where the server was built with it; else the server's pglz, as before.
    let has_lz4: bool = sqlx::query_scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let ours = if has_lz4 { "lz4" } else { "pglz" };
    assert_eq!(compression(0).await.as_deref(), Some(ours));
    assert_eq!(compression(1).await.as_deref(), Some("pglz"));
}

// ---------------------------------------------------------------------------------------
// The migration history across the change of driver

#[tokio::test]
async fn a_migration_history_as_the_tokio_postgres_driver_wrote_it_is_read_as_applied_and_its_checksums_still_guard(
) {
    // Arrange: a migrated database whose history rows are made exactly what the release
    // that migrated over tokio-postgres wrote (captured from it: same table, `applied_on`
    // as RFC 3339 text with nanoseconds, checksums as decimal text).
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    let columns: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, character_maximum_length
         FROM information_schema.columns WHERE table_name = 'ampsync_schema_history'
         ORDER BY ordinal_position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let v1_checksum: String =
        sqlx::query_scalar("SELECT checksum FROM ampsync_schema_history WHERE version = 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    sqlx::query("UPDATE ampsync_schema_history SET applied_on = '2026-12-01T21:33:51.031645979Z'")
        .execute(&app.pool)
        .await
        .unwrap();

    // Act
    let again = app.ampsync(&["migrate"]).await.success();
    sqlx::query("UPDATE ampsync_schema_history SET checksum = '1' WHERE version = 1")
        .execute(&app.pool)
        .await
        .unwrap();
    let divergent = app.ampsync(&["migrate"]).await;

    // Assert: the table and V1's checksum are those of the old driver; its rows read as
    // applied (nothing re-ran); a changed checksum is still refused.
    let varchar = |name: &str| (name.to_owned(), "character varying".to_owned(), Some(255));
    assert_eq!(
        columns,
        [
            ("version".to_owned(), "integer".to_owned(), None),
            varchar("name"),
            varchar("applied_on"),
            varchar("checksum"),
        ]
    );
    assert_eq!(v1_checksum, "6705443873815977925");
    assert_eq!(again.logged("migrations up to date")[0]["applied"], 0);
    assert_eq!(divergent.code(), 1, "{}", divergent.stderr());
    assert!(
        divergent
            .stderr()
            .contains("applied migration V1__tables is different than filesystem one"),
        "{}",
        divergent.stderr()
    );
}

/// Whether every session of `application` on this test's database is encrypted, and how
/// many there are.
async fn sessions_encrypted(app: &TestApp, application: &str) -> (bool, i64) {
    sqlx::query_as(
        "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_activity a
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.application_name = $2",
    )
    .bind(&app.db_name)
    .bind(application)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn with_sslmode_require_the_migration_and_data_connections_are_encrypted() {
    // Arrange: a migrated database, then a test-held lock on the migrations' history
    // table and on `installations`, so the job's sessions wait where the test sees them.
    let app = app_with_pending_changes().await;
    let tls_url = format!("{}?sslmode=require", app.database_url);
    let tls = [("DATABASE_URL", tls_url.as_str())];
    let mut holder = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE ampsync_schema_history IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();

    // Act + Assert: the migration connection (refinery over sqlx).
    let migrate = app.spawn(&["migrate"], &tls);
    let probe = app.probe();
    eventually("the migration waits on the lock", move || {
        let probe = probe.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ampsync-migrate' AND wait_event_type = 'Lock'",
            )
            .bind(&probe.db_name)
            .fetch_one(&probe.pool)
            .await
            .unwrap();
            n > 0
        }
    })
    .await;
    assert_eq!(sessions_encrypted(&app, "ampsync-migrate").await, (true, 1));
    unblock(holder).await;
    exited_within(migrate, FINISHES).await.success();

    // The data connections (sqlx), mid-apply.
    let blocker = block_installation_writes(&app).await;
    let sync = app.spawn(&sync_args(), &tls);
    let probe = app.probe();
    eventually("the run is mid-apply", move || {
        let probe = probe.clone();
        async move { waiting_on_lock(&probe).await }
    })
    .await;
    let (encrypted, sessions) = sessions_encrypted(&app, "ampsync").await;
    unblock(blocker).await;
    exited_within(sync, FINISHES).await.success();
    assert!(
        encrypted && sessions > 0,
        "{sessions} sessions, encrypted: {encrypted}"
    );

    // And sslmode=disable still works where TLS is not wanted.
    let plain = format!("{}?sslmode=disable", app.database_url);
    app.ampsync_env(&["migrate"], &[("DATABASE_URL", &plain)])
        .await
        .success();
}
