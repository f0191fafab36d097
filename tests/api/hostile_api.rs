//! An API that is hostile or broken cannot take the key elsewhere, fill memory, crash
//! the job, or make it store, log or print a secret or a terminal escape.

use std::io::Write;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use crate::fixtures::{installations, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, Fault, Recorder, Route, TestApp, API_KEY};

const JWT: &str =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI5ODc2NTQzMjEwIn0.c2lnbmVkLWJ5LWFuLWF0dGFja2Vy";

fn redirect(status: u16, location: String) -> Fault {
    Fault::custom(move || {
        let mut resp = StatusCode::from_u16(status).unwrap().into_response();
        resp.headers_mut()
            .insert("location", HeaderValue::from_str(&location).unwrap());
        resp
    })
}

/// The run recorded for the project: its status and error.
async fn last_run(app: &TestApp) -> (String, String) {
    let runs = app.runs().await;
    let (_, _, status, error) = runs.last().expect("a run is recorded").clone();
    (status, error.unwrap_or_default())
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused_and_that_host_never_sees_the_key() {
    // Arrange: the API redirects to a server on another loopback address, and to the
    // same server under another spelling of its host (another origin all the same).
    let app = spawn_app().await;
    let elsewhere = Recorder::start("127.0.0.2").await;
    let port = app
        .api
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let targets = [
        format!("http://{}/v1/projects/{PROJECT_ID}", elsewhere.addr),
        format!("http://[::ffff:127.0.0.1]:{port}/v1/projects/{PROJECT_ID}"),
    ];

    for target in targets {
        app.api
            .fail(Route::Project, redirect(302, target.clone()), 1);
        let before = app.api.count(Route::Project);

        // Act
        let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

        // Assert: a clear failure naming where it pointed; the key went nowhere else.
        assert_eq!(run.code(), 1, "{}", run.stderr());
        let host = url::Url::parse(&target)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        assert!(
            run.stderr().contains("a redirect to") && run.stderr().contains(&host),
            "{}",
            run.stderr()
        );
        assert!(!run.stderr().contains(API_KEY));
        assert_eq!(app.api.count(Route::Project), before + 1, "not followed");
        let (status, error) = last_run(&app).await;
        assert_eq!(status, "failed");
        assert!(error.contains("redirect"), "{error}");
    }
    assert!(
        elsewhere.received().is_empty(),
        "{:?}",
        elsewhere.received()
    );
}

#[tokio::test]
async fn a_redirect_within_the_apis_own_origin_is_followed() {
    // Arrange: a temporary redirect to the same endpoint on the same host and port.
    let app = spawn_app().await;
    let location = format!("{}/projects/{PROJECT_ID}", app.api.url);
    app.api.fail(Route::Project, redirect(307, location), 1);

    // Act
    let run = app.sync().await;

    // Assert
    assert!(
        run.stdout().contains("installations +30"),
        "{}",
        run.stdout()
    );
    assert_eq!(app.api.count(Route::Project), 2);
}

/// `n` bytes of whitespace, gzip-compressed: a body that is tiny on the wire.
fn gzip_of_spaces(n: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..n / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.write_all(b"[]").unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_body_cap_with_flat_memory_and_a_failed_run() {
    // Arrange: integrations as 256 MB of whitespace in a body of a few hundred KB.
    let app = spawn_app().await;
    let bomb = bytes::Bytes::from(gzip_of_spaces(256 << 20));
    assert!(bomb.len() < 2 << 20, "{} bytes on the wire", bomb.len());
    app.api.fail_always(
        Route::Integrations,
        Fault::custom(move || {
            let mut resp = Body::from(bomb.clone()).into_response();
            let headers = resp.headers_mut();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            headers.insert("content-encoding", HeaderValue::from_static("gzip"));
            resp
        }),
    );

    // Act: with a cap of 8 MiB.
    let (run, peak) = app
        .ampsync_measured(
            &["sync", "--project", PROJECT_ID],
            &[("AMPSYNC_MAX_BODY_SIZE", "8MiB")],
        )
        .await;

    // Assert: it stopped at the cap, far below what the body decodes to.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("larger than 8.0 MiB (decoded)")
            && run.stderr().contains("--max-body-size"),
        "{}",
        run.stderr()
    );
    assert!(peak < 96 << 20, "peak RSS {} MB", peak >> 20);
    assert_eq!(last_run(&app).await.0, "failed");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn an_installation_larger_than_the_element_cap_fails_the_run_and_writes_nothing() {
    // Arrange: one installation carries a 6 MB string.
    let mut payload = installations(0..3);
    payload[1]["notes"] = json!("x".repeat(6 << 20));
    let app = spawn_app_with(payload).await;

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[("AMPSYNC_MAX_ELEMENT_SIZE", "1MiB")],
        )
        .await;

    // Assert
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("element 1: larger than the cap of 1.0 MiB"),
        "{}",
        run.stderr()
    );
    assert_eq!(last_run(&app).await.0, "failed");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn a_retry_after_of_two_to_the_sixty_fourth_fails_the_run_cleanly_instead_of_panicking() {
    // Arrange
    let app = spawn_app().await;
    app.api.fail(
        Route::Project,
        Fault::problem(503, "Service Unavailable", "maintenance")
            .retry_after("18446744073709551615"),
        1,
    );

    // Act
    let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;

    // Assert: exit 1 (never 101), the refused wait explained, the run recorded.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("past the retry budget"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    assert_eq!(last_run(&app).await.0, "failed");
}

#[tokio::test]
async fn secrets_the_api_echoes_into_typed_fields_reach_no_table_and_ordinary_names_are_kept() {
    // Arrange: the key, a bearer header and a JWT where names and refs belong.
    let mut payload = installations(0..4);
    let bearer = "Bearer sk-ant-api03-Zq81Lm3Xw7Pv5Tn2";
    // Installations 0 and 1 share connection 0 and group grp-0; 2 and 3 grp-1.
    for (i, inst) in payload.as_array_mut().unwrap().iter_mut().enumerate() {
        let name = if i < 2 {
            format!("Acme {API_KEY}")
        } else {
            "Basic plan customers".into()
        };
        inst["group"]["groupName"] = json!(name);
        inst["connection"]["group"]["groupName"] = json!(name);
        if i < 2 {
            inst["connection"]["consumer"]["consumerName"] = json!(bearer);
            inst["connection"]["providerWorkspaceRef"] = json!(API_KEY);
        }
    }
    payload[0]["createdBy"] = json!(format!("consumer:{JWT}"));
    let app = spawn_app_with(payload).await;

    // Act
    let run = app.sync().await;

    // Assert
    let dump = app.dump().await;
    for secret in [API_KEY, JWT, "sk-ant-api03-Zq81Lm3Xw7Pv5Tn2"] {
        assert!(!dump.contains(secret), "{secret} is in the dump");
        assert!(!run.stderr().contains(secret), "{secret} is in the logs");
    }
    let kept: (String, String, String) = sqlx::query_as(
        "SELECT (SELECT group_name FROM ampersand.groups WHERE group_ref = 'grp-0'),
                (SELECT created_by_kind || ':' || created_by_ref FROM ampersand.installations WHERE id = 'inst-00000'),
                (SELECT group_name FROM ampersand.groups WHERE group_ref = 'grp-1')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept.0, "Acme [redacted]");
    assert_eq!(kept.1, "consumer:[redacted]");
    assert_eq!(kept.2, "Basic plan customers");
}

#[tokio::test]
async fn rejection_reasons_never_carry_a_secret_into_the_table_or_the_log() {
    // Arrange: records rejected with the key in the value the reason quotes.
    // (Three good ones besides: a response none of whose installations can be read
    // fails its run.)
    let mut payload = installations(0..6);
    payload[0]["projectId"] = json!(format!("proj-{API_KEY}"));
    payload[1]["connection"] = json!(format!("`x` field `{API_KEY}`"));
    payload[2]["id"] = json!({"nested": JWT});
    let app = spawn_app_with(payload).await;

    // Act
    let run = app.sync().await;

    // Assert
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM ampersand.rejected_records ORDER BY position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].starts_with("id inst-00000: belongs to project proj-[redacted]"),
        "{reasons:?}"
    );
    let dump = app.dump().await;
    let logs = run.stderr();
    assert!(logs.contains("record rejected"), "{logs}");
    for secret in [API_KEY, JWT] {
        assert!(
            !dump.contains(secret) && !logs.contains(secret),
            "{secret} leaked"
        );
    }
}

#[tokio::test]
async fn credentials_and_control_characters_in_a_problem_detail_reach_no_table_and_no_terminal() {
    // Arrange: a problem detail quoting a bearer token and a JWT, with a forged line.
    let app = spawn_app().await;
    app.sync().await;
    let detail =
        format!("rejected Bearer x9Y8w7V6 (token {JWT})\n\u{1b}[2K\rOK installations +30\u{7}");
    app.api.fail(
        Route::Installations,
        Fault::problem(400, "Bad Request", &detail),
        1,
    );

    // Act
    let run = app.ampsync(&["sync", "--project", PROJECT_ID]).await;
    let status = app.ampsync(&["status", "--project", PROJECT_ID]).await;

    // Assert
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let (state, error) = last_run(&app).await;
    assert_eq!(state, "failed");
    assert!(
        error.contains("rejected Bearer [redacted] (token [redacted])"),
        "{error}"
    );
    for text in [error, run.stderr(), status.stdout(), status.stderr()] {
        assert!(!text.contains("x9Y8w7V6") && !text.contains(JWT), "{text}");
        assert!(!text.contains(['\u{1b}', '\u{7}', '\r']), "{text:?}");
        assert!(!text.lines().any(|l| l.starts_with("OK")), "{text}");
    }
}

#[tokio::test]
async fn proxy_variables_do_not_carry_loopback_http_traffic_or_the_key() {
    // Arrange: a proxy that would see every request, key included.
    let app = spawn_app().await;
    let proxy = Recorder::start("127.0.0.1").await;
    let proxy_url = format!("http://{}", proxy.addr);

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[
                ("HTTP_PROXY", &proxy_url),
                ("http_proxy", &proxy_url),
                ("ALL_PROXY", &proxy_url),
            ],
        )
        .await;

    // Assert
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(proxy.received().is_empty(), "{:?}", proxy.received());
}

#[tokio::test]
async fn a_key_file_that_is_endless_fails_at_once_and_one_readable_by_all_is_warned_about() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    let key_path = key_file.to_str().unwrap();
    let from_file = |path: &str| {
        [("AMPERSAND_API_KEY", ""), ("AMPERSAND_API_KEY_FILE", path)]
            .map(|(k, v)| (k, v.to_owned()))
    };

    // Act + Assert: /dev/zero is refused with a usage error, memory untouched.
    let env = from_file("/dev/zero");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (zero, peak) = app
        .ampsync_measured(&["sync", "--project", PROJECT_ID], &env)
        .await;
    assert_eq!(zero.code(), 2, "{}", zero.stderr());
    assert!(
        zero.stderr().contains("is it the right file?"),
        "{}",
        zero.stderr()
    );
    assert!(peak < 64 << 20, "peak RSS {} MB", peak >> 20);

    // A world-readable key works, with a warning; a private one without.
    let env = from_file(key_path);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = app
            .ampsync_env(&["sync", "--project", PROJECT_ID], &env)
            .await
            .success();
        let warnings = run.logged(
            "the API key file is readable by every user of this machine; restrict it (chmod 600, or defaultMode 0440 for a Kubernetes secret volume)",
        );
        assert_eq!(
            !warnings.is_empty(),
            warned,
            "mode {mode:o}: {}",
            run.stderr()
        );
        assert!(!run.stderr().contains(API_KEY));
    }
}
