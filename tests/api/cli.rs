//! The command line: configuration, exit codes, migrations, TLS.

use crate::fixtures::PROJECT_ID;
use crate::helpers::spawn_app;

#[tokio::test]
async fn migrate_is_idempotent_and_other_commands_migrate_first() {
    let app = spawn_app().await;

    app.ampsync(&["migrate"]).await.success();
    app.ampsync(&["migrate"]).await.success();

    let applied = app
        .count("SELECT count(*) FROM ampsync_schema_history")
        .await;
    assert!(applied >= 3);
    let fresh = spawn_app().await;
    fresh.ampsync(&["status"]).await; // exits 1: no runs yet; but the schema exists now
    assert_eq!(
        fresh
            .count("SELECT count(*) FROM ampersand.sync_runs")
            .await,
        0
    );
}

#[tokio::test]
async fn configuration_errors_exit_2_with_a_message_that_says_what_to_fix() {
    let app = spawn_app().await;

    let no_key = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPERSAND_API_KEY", "")],
        )
        .await;
    let plain_http = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPERSAND_API_URL", "http://api.withampersand.com/v1")],
        )
        .await;
    let no_project = app.ampsync(&["sync"]).await;
    let bad_time = app
        .ampsync(&[
            "import",
            "x.json",
            "--project",
            "p",
            "--observed-at",
            "yesterday",
        ])
        .await;

    assert_eq!(no_key.code(), 2);
    assert!(
        no_key.stderr().contains("AMPERSAND_API_KEY"),
        "{}",
        no_key.stderr()
    );
    assert_eq!(plain_http.code(), 2);
    assert!(
        plain_http.stderr().contains("plain http"),
        "{}",
        plain_http.stderr()
    );
    assert_eq!(no_project.code(), 2);
    assert_eq!(bad_time.code(), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'ampersand'")
            .await,
        0,
        "nothing was touched"
    );
}

#[tokio::test]
async fn flags_win_over_environment_variables_which_win_over_defaults() {
    let app = spawn_app().await;

    // AMPERSAND_PROJECT names a missing project; the flag names the real one.
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPERSAND_PROJECT", "missing")],
        )
        .await
        .success();
    let from_env = app
        .ampsync_env(
            &["sync"],
            &[("AMPERSAND_PROJECT", &format!("{PROJECT_ID},missing"))],
        )
        .await;

    assert!(run.stdout().contains(PROJECT_ID));
    assert_eq!(
        from_env.code(),
        1,
        "the env list was read: one project exists, one does not"
    );
    assert!(
        from_env.stderr().contains("project missing not found"),
        "{}",
        from_env.stderr()
    );
}

#[tokio::test]
async fn the_api_key_can_come_from_a_file() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, format!("{}\n", crate::helpers::API_KEY)).unwrap();

    app.ampsync_env(
        &["sync", "--project", PROJECT_ID],
        &[
            ("AMPERSAND_API_KEY", ""),
            ("AMPERSAND_API_KEY_FILE", key_file.to_str().unwrap()),
        ],
    )
    .await
    .success();

    let wrong = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPERSAND_API_KEY", "amp_wrong_key_123")],
        )
        .await;
    assert_eq!(wrong.code(), 1);
    assert!(
        wrong.stderr().contains(&format!(
            "the API key was rejected for project {PROJECT_ID}"
        )),
        "{}",
        wrong.stderr()
    );
}

#[tokio::test]
async fn every_command_has_help_with_an_example() {
    let app = spawn_app().await;
    for command in ["migrate", "sync", "import", "status"] {
        let help = app.ampsync(&[command, "--help"]).await.success();
        assert!(
            help.stdout().contains("Example"),
            "{command}: {}",
            help.stdout()
        );
    }
    let version = app.ampsync(&["--version"]).await.success();
    assert!(version.stdout().starts_with("ampsync "));
}

#[tokio::test]
async fn logs_are_json_lines_on_stderr_when_not_on_a_terminal() {
    let app = spawn_app().await;

    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPSYNC_LOG_FORMAT", "")],
        )
        .await
        .success();

    let lines = run.log_lines();
    assert_eq!(
        lines.len(),
        run.stderr().lines().count(),
        "every line is JSON"
    );
    let read = lines
        .iter()
        .find(|l| l["message"] == "snapshot read")
        .expect("a snapshot line");
    assert_eq!(read["level"], "INFO");
    assert!(
        read["rows"].as_str().unwrap().contains("installations=30"),
        "{read}"
    );
}
