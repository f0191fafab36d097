//! Secrets never leave the process: not into a table, a history row, `extra`, a
//! rejected record, nor a log line.

use serde_json::json;

use crate::fixtures::{
    assert_holds_no_secret, installation, installations, secrets_in, PROJECT_ID,
};
use crate::helpers::{spawn_app_with, API_KEY};

#[tokio::test]
async fn after_syncing_payloads_full_of_secrets_no_table_history_row_or_log_line_holds_any() {
    // Arrange: the fixtures' tokens, API keys and client secrets, plus secrets at
    // unexpected depths and under unexpected names, and a record that gets rejected.
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dGhpc2lzYXNpZ25hdHVyZXRoYXRsb29rc3JlYWw";
    let mut payload = installations(0..10);
    let list = payload.as_array_mut().unwrap();
    list[0]["connection"]["providerMetadata"]["session"] = json!({"value": jwt, "source": "token"});
    list[1]["vendorAuth"] = json!({"deep": [{"x-api-key": "ak_live_7Hq2Lr9Xv4Nw8Pt1"}], "Authorization": "Bearer sk-ant-4f7d9a2b8c1e"});
    list[2]["config"]["content"]["write"] =
        json!({"objects": {"lead": {"dbPassword": "hunter2-Qx7!vL9#mP3"}}});
    list[3]["connection"]["oauth2AuthorizationCode"]["idToken"] = json!("id-tok-9Zp3Wq7Lk2Jh5Gf8");
    let mut rejected = installation(99);
    rejected["id"] = json!(12345);
    rejected["connection"]["oauth2AuthorizationCode"]["accessToken"]["token"] =
        json!("rejected-record-access-token-Xy7Qp2");
    list.push(rejected);
    let mut secrets = secrets_in(&payload);
    secrets.extend([
        jwt.to_string(),
        "Bearer sk-ant-4f7d9a2b8c1e".into(),
        API_KEY.to_string(),
    ]);
    assert!(
        secrets.len() > 20,
        "the fixture plants many secrets: {}",
        secrets.len()
    );
    let app = spawn_app_with(payload).await;

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID, "-vv"])
        .await
        .success();

    // Assert: the rejected record is kept, scrubbed; the flags say what was there.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.rejected_records")
            .await,
        1
    );
    // Six: the rejected installation's connection is well formed, and the connections
    // list (which the fake derives from every installation) has it.
    assert_eq!(app.count("SELECT count(*) FROM ampersand.connections WHERE has_access_token AND has_refresh_token AND has_api_key").await, 6);
    let dump = app.dump().await;
    let logs = run.stderr() + &run.stdout();
    assert!(
        dump.contains("conn-00001") && logs.contains("snapshot read"),
        "the scan sees real content"
    );
    assert_holds_no_secret("the database", &dump, &secrets);
    assert_holds_no_secret("the logs", &logs, &secrets);
}

#[tokio::test]
async fn the_api_key_and_database_password_never_appear_in_errors() {
    let app = spawn_app_with(installations(0..1)).await;
    let bad_db = "postgres://postgres:S3cr3t-Db-Pa55w0rd@127.0.0.1:1/nowhere";

    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID, "-vv"],
            &[("DATABASE_URL", bad_db)],
        )
        .await;

    assert_eq!(run.code(), 1);
    let all = run.stderr() + &run.stdout();
    assert!(
        all.contains("127.0.0.1:1"),
        "the error names where it tried: {all}"
    );
    assert!(!all.contains("S3cr3t-Db-Pa55w0rd"), "{all}");
    assert!(!all.contains(API_KEY), "{all}");
}
