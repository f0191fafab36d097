//! Secrets never leave the process: not into a table, a history row, `extra`, a
//! rejected record, nor a log line, not even at trace level. The API key is never taken
//! from a flag (where `ps` would show it), nor sent over plain http to a remote host.

use serde_json::json;

use crate::fixtures::{
    assert_holds_no_secret, installation, installations, secrets_in, PROJECT_ID,
};
use crate::helpers::{spawn_app, spawn_app_with, sync_args, API_KEY};

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

/// One real-looking secret of each shape the scrub knows by its look alone (made up, in
/// the formats their issuers publish).
const SHAPED: &[&str] = &[
    "ghp_5URYX45jqRO25g3uK5kbAAegiuE8LCAnmuO6",
    "gho_RvvBfOHZ1FzfnKpcmgfmqSWstSqkNh5brTo2",
    "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",
    "xoxb-2104065467119-7308189502449-29gacnVnN8zSMfL2xYsCdZPi",
    "xoxp-968664071975-334756390521-5017382402558-407de7cc992f8b4e7f4ba43816bc69f5",
    "T0123ABCD/B0456EFGH/aB3dE6gH9jK2mN5pQ8sT1vW4",
    "sk_live_51GcEEzT3GVQgP5i0TtGJA79kDCR5XHE",
    "rk_live_511jlmmshmCzDe2X2XtOIhZnU503nUt3",
    "sk_test_4enGsB2EgxHpVZlJKx0sjavZyj",
    "AKIA4QWERTY2ZXCVB7NM",
    "AIzafwwm-MuFJDpm53QEvh5ldKdGTHNZiUbhwuD",
    "glpat-fCFalm0Otz82g61snxNt",
    "npm_kX3XDXl6i54cmh6HwD9Eu0U2duv1Wy5g4Z7b",
    "pypi-AgEIcHlwaS5vcmc4xi4qzO3yuSfsMSHiEX-gbc9UDYk8OA4mZlnx2YsMrKLUw3VRJBEQoaK_rR8BVMCQL4ktH",
    "sk-proj-ekcN1J6Jk2jdYcHbiaOn-3nQdbpeD5FSVipiFG57-ff7kxuBFzEKfqS6O4-aT3BlbkFJMpUzKswhDGwebnyn86IDh3FKQ",
    "sk-ant-api03-jtfrDpdBlQEf_DrYn6GAgOYj2421pCFOmcyafRv1RgDtHM8KnPjD6CKbBWpAl4Z91ArlrY9h6FlXPikVqBffFqdnqH83GAA",
    "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",
    "SKfe8973358278e9972819295e8d22bf72",
    "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",
    "pat-na1-2fb4e544-30f8-9894-46fa-52fdd7d018cb",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "Wq7-Lk2!Jh5Gf8-userinfo",
    "ya-9Zp3Wq7Lk2Jh5-query",
];

/// How each secret of [`SHAPED`] is written where the payload holds it.
fn as_sent(secret: &str) -> String {
    match secret {
        s if s.starts_with("T0123") => format!("https://hooks.slack.com/services/{s}"),
        s if s.starts_with("b3Bl") => format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{s}\nQyNTUxOQAAACDm7Q0g2zB8W0l7hX2vT9k4cR6pN1sY3jF5dE8aL0uHcQ\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        s if s.ends_with("-userinfo") => format!("https://svc:{s}@crm.example.com/v1"),
        s if s.ends_with("-query") => {
            format!("https://crm.example.com/cb?state=ok&access_token={s}&scope=api")
        }
        s => s.to_owned(),
    }
}

/// Installations holding every shape of [`SHAPED`], one per installation, in free-form
/// config content, in `extra` and in typed columns, plus secrets under names that say so
/// only to one who knows them (`pwd`, `passphrase`, `signingKey`, `hmacKey`, an OAuth
/// grant's `code`). Returns them with every secret they hold.
fn payload_with_shapes() -> (serde_json::Value, Vec<String>) {
    let mut payload = installations(0..SHAPED.len());
    let list = payload.as_array_mut().unwrap();
    for (i, secret) in SHAPED.iter().enumerate() {
        let sent = as_sent(secret);
        let inst = &mut list[i];
        match i % 5 {
            0 => {
                inst["config"]["content"]["write"] =
                    json!({"note": format!("rotate {sent} monthly")})
            }
            1 => {
                inst["config"]["content"]["read"]["objects"]["account"]["destination"] = json!(sent)
            }
            2 => inst["healthStatus"] = json!(sent),
            3 => inst["vendorNotes"] = json!({"deep": [sent]}),
            _ => inst["config"]["createdBy"] = json!(format!("builder:{sent}")),
        }
        let c = i / 2;
        inst["connection"]["oauth2AuthorizationCode"]["code"] =
            json!(format!("4/0AeaYSHBq{c:05}Zx7Lq2Wm9Vt4Rk8Np3Hs6Jd1Fg5"));
    }
    list[0]["config"]["content"]["write"]["db"] = json!({
        "pwd": "Pwd-9Zp3Wq7Lk2Jh5Gf8",
        "passphrase": "correct horse battery staple 7Qx",
        "signingKey": "sgk-4f9b28c6eda9c0bf5b0e",
        "hmacKey": "hmk-eb215eee25661e78030b",
    });
    let mut secrets: Vec<String> = SHAPED.iter().map(|s| s.to_string()).collect();
    secrets.extend(
        [
            "Pwd-9Zp3Wq7Lk2Jh5Gf8",
            "correct horse battery staple 7Qx",
            "sgk-4f9b28c6eda9c0bf5b0e",
            "hmk-eb215eee25661e78030b",
            "Zx7Lq2Wm9Vt4Rk8Np3Hs6Jd1Fg5",
        ]
        .map(String::from),
    );
    (payload, secrets)
}

#[tokio::test]
async fn secrets_known_by_their_shape_are_neither_stored_by_a_sync_nor_exported() {
    // Arrange
    let (payload, secrets) = payload_with_shapes();
    let app = spawn_app_with(payload).await;

    // Act
    let sync = app
        .ampsync(&["sync", "--project", PROJECT_ID, "-vv"])
        .await
        .success();
    let export = app
        .ampsync(&["export", "--project", PROJECT_ID])
        .await
        .success();

    // Assert: no secret; every record kept, and what surrounds a secret too.
    let dump = app.dump().await;
    assert_holds_no_secret("the database", &dump, &secrets);
    assert_holds_no_secret("the export", &export.stdout(), &secrets);
    assert_holds_no_secret("the logs", &(sync.stderr() + &export.stderr()), &secrets);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        SHAPED.len() as i64
    );
    assert!(
        dump.contains("rotate [redacted] monthly")
            && dump.contains("https://svc:[redacted]@crm.example.com/v1")
            && dump.contains("access_token=[redacted]&scope=api"),
        "the text around each secret is kept"
    );
}

#[tokio::test]
async fn secrets_known_by_their_shape_are_neither_stored_by_an_import_nor_exported() {
    // Arrange
    let (payload, secrets) = payload_with_shapes();
    let app = spawn_app_with(json!([])).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();

    // Act
    let import = app
        .ampsync(&["import", file.to_str().unwrap(), "--project", PROJECT_ID])
        .await
        .success();
    let export = app
        .ampsync(&["export", "--project", PROJECT_ID])
        .await
        .success();

    // Assert
    let out = export.stdout();
    assert_holds_no_secret("the database", &app.dump().await, &secrets);
    assert_holds_no_secret("the export", &out, &secrets);
    assert_holds_no_secret("the logs", &(import.stderr() + &export.stderr()), &secrets);
    assert!(
        out.contains("inst-00000") && out.contains("builder:[redacted]"),
        "real content: {out}"
    );
}

#[tokio::test]
async fn secrets_in_records_that_cannot_be_read_or_under_innocent_names_reach_no_table_or_log() {
    // Arrange: a token sent as a bare string where an object belongs (the record is
    // rejected, and the parser's message would quote it), the API key itself under an
    // innocent name, and secrets deep in the project and integrations responses.
    let raw_token = "ya29.a0AfB_byC-raw-access-token-Qx7Lp2Mv9";
    let mut payload = installations(0..6);
    let list = payload.as_array_mut().unwrap();
    list[1]["connection"]["oauth2AuthorizationCode"]["accessToken"] = json!(raw_token);
    list[2]["supportNote"] = json!(format!("customer pasted {API_KEY} here"));
    list[3]["config"]["content"]["write"] =
        json!([{"headers": [{"name": "X-Auth", "value": API_KEY}]}]);
    let app = spawn_app_with(payload.clone()).await;
    {
        let mut state = app.api.state.lock().unwrap();
        state.project["billing"] = json!({"stripe": {"secretKey": "sk_live_proj_51Hq9Xx"}});
        state.integrations[0]["latestRevision"]["content"]["auth"] =
            json!({"clientSecret": "cs_integration_Lr2Xv7Nw"});
    }
    let mut secrets = secrets_in(&payload);
    secrets.extend([
        raw_token.to_owned(),
        API_KEY.to_owned(),
        "sk_live_proj_51Hq9Xx".to_owned(),
        "cs_integration_Lr2Xv7Nw".to_owned(),
    ]);

    // Act
    let run = app
        .ampsync_env(&sync_args(), &[("RUST_LOG", "trace")])
        .await
        .success();

    // Assert
    let reason: String = sqlx::query_scalar("SELECT reason FROM ampersand.rejected_records")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(reason.contains("invalid type: string"), "{reason}");
    let dump = app.dump().await;
    let logs = run.stderr() + &run.stdout();
    assert!(dump.contains("customer pasted") || dump.contains("[redacted]"));
    assert!(logs.contains("record rejected"));
    for secret in &secrets {
        assert!(
            !dump.contains(secret.as_str()),
            "the database holds {secret}"
        );
        assert!(!logs.contains(secret.as_str()), "the logs hold {secret}");
    }
}

#[tokio::test]
async fn the_database_password_and_api_key_stay_out_of_even_trace_logs() {
    // Arrange: the test server trusts local connections, so a password in the URL is
    // accepted and ignored: the run succeeds while holding one.
    let app = spawn_app_with(installations(0..4)).await;
    let password = "Pw-In-Url-9Xq2Lm7vT";
    let url = app
        .database_url
        .replace("postgres@", &format!("postgres:{password}@"));

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID, "-vv"],
            &[("DATABASE_URL", &url), ("RUST_LOG", "trace")],
        )
        .await
        .success();
    let status = app
        .ampsync_env(
            &["status"],
            &[("DATABASE_URL", &url), ("RUST_LOG", "trace")],
        )
        .await;

    // Assert
    for out in [&run, &status] {
        let all = out.stderr() + &out.stdout();
        assert!(all.lines().count() > 10, "trace logging is on");
        assert!(!all.contains(password), "{all}");
        assert!(!all.contains(API_KEY), "{all}");
    }
}

#[tokio::test]
async fn the_api_key_is_never_taken_from_a_flag_and_plain_http_is_refused_for_remote_hosts() {
    let app = spawn_app().await;

    let flag = app
        .ampsync(&["sync", "--project", PROJECT_ID, "--api-key", API_KEY])
        .await;
    let remote = app
        .ampsync_env(
            &sync_args(),
            &[("AMPERSAND_API_URL", "http://10.1.2.3:8080/v1")],
        )
        .await;

    assert_eq!(flag.code(), 2);
    assert!(
        flag.stderr().contains("unexpected argument '--api-key'"),
        "{}",
        flag.stderr()
    );
    assert_eq!(remote.code(), 2);
    assert!(
        remote.stderr().contains("plain http"),
        "{}",
        remote.stderr()
    );
    assert!(app.api.requests().is_empty(), "nothing was sent");
}
