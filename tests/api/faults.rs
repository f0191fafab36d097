//! The API misbehaving: error statuses, `Retry-After`, refused and broken connections,
//! stalls, bodies that are cut short, not JSON, of the wrong shape or a proxy's page,
//! and gzip. A fault that persists fails the run with exit 1 and writes nothing but the
//! failed `sync_runs` row.

use std::time::{Duration, SystemTime};

use crate::fixtures::{installations, PROJECT_ID};
use crate::helpers::{spawn_app, Fault, Route, TestApp, API_KEY};

const RETRYING: &str = "request failed; retrying";

fn installations_path() -> String {
    format!("/projects/{PROJECT_ID}/installations")
}

/// Runs `ampsync sync` for the fixture project with extra environment variables.
async fn sync_env(app: &TestApp, env: &[(&str, &str)]) -> crate::helpers::Run {
    app.ampsync_env(&["sync", "--project", PROJECT_ID], env)
        .await
}

/// The last `sync_runs` row, which must say `failed`; returns its error.
async fn last_run_failed(app: &TestApp) -> String {
    let runs = app.runs().await;
    let (_, project, status, error) = runs.last().expect("a run was recorded").clone();
    assert_eq!(status, "failed", "{runs:?}");
    assert_eq!(project, PROJECT_ID);
    error.expect("a failed run says why")
}

#[tokio::test]
async fn a_429_with_retry_after_in_seconds_is_retried_after_the_wait_the_api_asked_for() {
    // Arrange
    let app = spawn_app().await;
    app.api.fail(
        Route::Installations,
        Fault::problem(429, "Too Many Requests", "slow down").retry_after("1"),
        1,
    );

    // Act
    let run = sync_env(&app, &[]).await.success();

    // Assert: one retry, logged with its reason and the server's wait (not the 10ms backoff).
    assert_eq!(app.api.count(Route::Installations), 2);
    let retries = run.logged(RETRYING);
    assert_eq!(retries.len(), 1, "{}", run.stderr());
    assert!(retries[0]["reason"].as_str().unwrap().contains("429"));
    assert_eq!(retries[0]["detail"], "slow down");
    assert_eq!(retries[0]["retry_in_ms"], 1000);
    assert_eq!(retries[0]["retry_after"], true);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_is_honoured() {
    let app = spawn_app().await;
    // Five seconds ahead, so a slow start on a loaded machine still leaves a wait.
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
    app.api.fail(
        Route::Project,
        Fault::problem(429, "Too Many Requests", "slow down").retry_after(&at),
        1,
    );

    let run = sync_env(&app, &[]).await.success();

    assert_eq!(app.api.count(Route::Project), 2);
    let retries = run.logged(RETRYING);
    assert_eq!(retries.len(), 1, "{}", run.stderr());
    let waited = retries[0]["retry_in_ms"].as_u64().unwrap();
    // The date has whole seconds: the wait is up to 5s, and far above the 10ms backoff.
    assert!((100..=5000).contains(&waited), "{waited}");
    assert_eq!(retries[0]["retry_after"], true);
}

#[tokio::test]
async fn a_retry_after_past_the_retry_budget_fails_at_once_and_says_so() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Installations,
        Fault::problem(429, "Too Many Requests", "quota exhausted").retry_after("3600"),
    );

    let run = sync_env(&app, &[("AMPSYNC_RETRY_BUDGET", "5m")]).await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 1);
    let err = run.stderr();
    assert!(
        err.contains("asked to retry after 3600s, past the retry budget of 300s"),
        "{err}"
    );
    assert!(last_run_failed(&app).await.contains("quota exhausted"));
}

#[tokio::test]
async fn server_errors_500_502_503_504_are_retried_and_the_run_succeeds() {
    // Arrange: each endpoint fails before it answers.
    let app = spawn_app().await;
    app.api.fail(
        Route::Project,
        Fault::problem(500, "Internal Server Error", "oops"),
        1,
    );
    app.api.fail(
        Route::Integrations,
        Fault::problem(502, "Bad Gateway", "upstream"),
        1,
    );
    app.api.fail(
        Route::Installations,
        Fault::problem(503, "Service Unavailable", "deploying"),
        1,
    );
    app.api.fail(
        Route::Installations,
        Fault::problem(504, "Gateway Timeout", "upstream slow"),
        1,
    );

    // Act
    let run = sync_env(&app, &[]).await.success();

    // Assert: every failure was retried, and logged with its status as the reason.
    assert_eq!(app.api.count(Route::Project), 2);
    assert_eq!(app.api.count(Route::Integrations), 2);
    assert_eq!(app.api.count(Route::Installations), 3);
    let reasons: Vec<String> = run
        .logged(RETRYING)
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_owned())
        .collect();
    for status in ["500", "502", "503", "504"] {
        assert!(
            reasons.iter().any(|r| r.contains(status)),
            "{status}: {reasons:?}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
    assert_eq!(app.runs().await[0].2, "succeeded");
}

#[tokio::test]
async fn after_the_retry_budget_the_run_fails_naming_project_endpoint_status_and_detail_and_writes_nothing_else(
) {
    // Arrange: a good first sync, then the API keeps failing with a changed payload.
    let app = spawn_app().await;
    app.sync().await;
    let before = app.fingerprint().await;
    app.api.set_installations(installations(5..40));
    app.api.fail_always(
        Route::Installations,
        Fault::problem(503, "Service Unavailable", "maintenance window until 04:00"),
    );

    // Act
    let run = sync_env(&app, &[("AMPSYNC_RETRY_ATTEMPTS", "3")]).await;

    // Assert
    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 1 + 3);
    assert_eq!(run.logged(RETRYING).len(), 2, "{}", run.stderr());
    let err = run.stderr();
    for part in [
        PROJECT_ID,
        &installations_path(),
        "503 Service Unavailable",
        "maintenance window until 04:00",
        "gave up after 3 attempts",
    ] {
        assert!(err.contains(part), "missing {part}: {err}");
    }
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    let runs = app.runs().await;
    assert_eq!(runs.len(), 2);
    let error = last_run_failed(&app).await;
    assert!(error.contains("maintenance window until 04:00"), "{error}");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.rejected_records")
            .await,
        0
    );
}

#[tokio::test]
async fn a_project_endpoint_that_never_answers_still_leaves_a_failed_run_for_status_to_report() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Project,
        Fault::problem(500, "Internal Server Error", "database unavailable"),
    );

    let run = sync_env(&app, &[("AMPSYNC_RETRY_ATTEMPTS", "2")]).await;
    let status = app.ampsync(&["status"]).await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Project), 2);
    assert!(last_run_failed(&app).await.contains("database unavailable"));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
    assert_eq!(status.code(), 1, "the probe sees the failure");
}

#[tokio::test]
async fn the_retry_time_budget_stops_retrying_even_with_attempts_left() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Integrations,
        Fault::problem(503, "Service Unavailable", "busy"),
    );

    let run = sync_env(
        &app,
        &[
            ("AMPSYNC_RETRY_ATTEMPTS", "1000"),
            ("AMPSYNC_RETRY_BUDGET", "300ms"),
            ("AMPSYNC_RETRY_BASE_DELAY", "50ms"),
        ],
    )
    .await;

    assert_eq!(run.code(), 1);
    assert!(app.api.count(Route::Integrations) < 1000);
    assert!(run.stderr().contains("gave up after"), "{}", run.stderr());
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_fails_naming_the_endpoint() {
    // Arrange: a port nobody listens on.
    let app = spawn_app().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/v1");

    // Act
    let run = sync_env(
        &app,
        &[("AMPERSAND_API_URL", &url), ("AMPSYNC_RETRY_ATTEMPTS", "3")],
    )
    .await;

    // Assert
    assert_eq!(run.code(), 1);
    let retries = run.logged(RETRYING);
    assert_eq!(retries.len(), 2, "{}", run.stderr());
    assert!(retries[0]["reason"]
        .as_str()
        .unwrap()
        .contains("could not connect"));
    let err = run.stderr();
    assert!(
        err.contains(&format!(
            "could not read /projects/{PROJECT_ID}?includeEntitlements=true for project {PROJECT_ID}: could not connect"
        )),
        "{err}"
    );
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(last_run_failed(&app).await.contains("could not connect"));
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_retried_and_the_next_attempt_applies_the_whole_snapshot() {
    let app = spawn_app().await;
    app.api.fail(
        Route::Installations,
        Fault::ResetMidBody { keep: 20_000 },
        1,
    );
    app.api
        .fail(Route::Integrations, Fault::ResetMidBody { keep: 100 }, 1);

    let run = sync_env(&app, &[]).await.success();

    assert_eq!(app.api.count(Route::Installations), 2);
    assert_eq!(app.api.count(Route::Integrations), 2);
    assert_eq!(run.logged(RETRYING).len(), 2, "{}", run.stderr());
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations_history")
            .await,
        30,
        "the broken attempt left no trace"
    );
}

#[tokio::test]
async fn a_response_that_stalls_mid_body_hits_the_stall_timeout_and_is_retried() {
    let app = spawn_app().await;
    app.api
        .fail(Route::Installations, Fault::Stall { keep: 5_000 }, 1);

    let run = sync_env(&app, &[("AMPSYNC_STALL_TIMEOUT", "500ms")])
        .await
        .success();

    assert_eq!(app.api.count(Route::Installations), 2);
    let retries = run.logged(RETRYING);
    assert_eq!(retries.len(), 1, "{}", run.stderr());
    assert!(
        retries[0]["reason"].as_str().unwrap().contains("timed out"),
        "{}",
        retries[0]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
}

#[tokio::test]
async fn a_response_that_sends_headers_then_nothing_fails_after_the_stall_timeout() {
    let app = spawn_app().await;
    app.api
        .fail_always(Route::Project, Fault::Stall { keep: 0 });

    let run = sync_env(
        &app,
        &[
            ("AMPSYNC_STALL_TIMEOUT", "300ms"),
            ("AMPSYNC_RETRY_ATTEMPTS", "2"),
        ],
    )
    .await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Project), 2);
    let err = run.stderr();
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains(&format!("/projects/{PROJECT_ID}")), "{err}");
}

#[tokio::test]
async fn the_overall_request_timeout_bounds_a_response_that_trickles() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Installations,
        Fault::Trickle {
            chunk: 64,
            every: Duration::from_millis(20),
        },
    );

    let run = sync_env(
        &app,
        &[
            ("AMPSYNC_REQUEST_TIMEOUT", "400ms"),
            ("AMPSYNC_RETRY_ATTEMPTS", "2"),
        ],
    )
    .await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 2);
    assert!(run.stderr().contains("timed out"), "{}", run.stderr());
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn a_body_cut_short_fails_the_run_cleanly_and_writes_nothing() {
    // Arrange: a good sync, then a changed payload that always arrives cut in half.
    let app = spawn_app().await;
    app.sync().await;
    let before = app.fingerprint().await;
    let changed = installations(3..33);
    let half = changed.to_string().len() / 2;
    app.api.set_installations(changed);
    app.api
        .fail_always(Route::Installations, Fault::CutShort { keep: half });

    // Act
    let run = sync_env(&app, &[("AMPSYNC_RETRY_ATTEMPTS", "2")]).await;

    // Assert
    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 1 + 2);
    let err = run.stderr();
    assert!(err.contains(&installations_path()), "{err}");
    assert!(err.contains("EOF while parsing"), "{err}");
    assert_eq!(app.fingerprint().await, before);
    last_run_failed(&app).await;
}

#[tokio::test]
async fn a_project_body_cut_short_is_retried_like_a_broken_connection() {
    let app = spawn_app().await;
    app.api
        .fail(Route::Project, Fault::CutShort { keep: 40 }, 1);

    let run = sync_env(&app, &[]).await.success();

    assert_eq!(app.api.count(Route::Project), 2);
    let retries = run.logged(RETRYING);
    assert!(
        retries[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the body ended early"),
        "{}",
        retries[0]
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_or_not_the_right_shape_fails_at_once_and_writes_nothing() {
    let cases = [
        (
            Route::Installations,
            Fault::body(
                200,
                "text/plain",
                "upstream connect error or disconnect/reset",
            ),
            "(text/plain, not JSON)",
        ),
        (
            Route::Installations,
            Fault::body(200, "application/json", r#"{"installations": []}"#),
            "expected a JSON array",
        ),
        (
            Route::Project,
            Fault::body(200, "application/json", r#"[{"id": "proj"}]"#),
            "invalid type: sequence",
        ),
        (
            Route::Integrations,
            Fault::body(
                200,
                "application/json",
                r#""amp_live_sk_echoed_in_a_string""#,
            ),
            "invalid type: string \"…\"",
        ),
    ];
    for (route, fault, says) in cases {
        // Arrange
        let app = spawn_app().await;
        app.sync().await;
        let before = app.fingerprint().await;
        app.api.set_installations(installations(2..31));
        app.api.fail_always(route, fault);
        let requests_before = app.api.count(route);

        // Act
        let run = sync_env(&app, &[]).await;

        // Assert: not retried (the same body would come back), nothing written.
        assert_eq!(run.code(), 1, "{route:?}");
        assert_eq!(app.api.count(route), requests_before + 1, "{route:?}");
        let err = run.stderr();
        assert!(err.contains("sent an unreadable body"), "{err}");
        assert!(err.contains(says), "{route:?} should say {says}: {err}");
        assert!(!err.contains("amp_live_sk_echoed"), "{err}");
        assert!(!err.contains("upstream connect error"), "{err}");
        assert_eq!(app.fingerprint().await, before, "{route:?}");
        last_run_failed(&app).await;
    }
}

const PROXY_PAGE: &str = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>PROXY-PAGE-MARKER session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln</p></body></html>";

#[tokio::test]
async fn an_html_page_from_a_proxy_with_status_200_fails_at_once_without_echoing_it() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Installations,
        Fault::body(200, "text/html", PROXY_PAGE),
    );

    let run = sync_env(&app, &[]).await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 1);
    let all = run.stderr() + &run.stdout();
    assert!(all.contains("(text/html, not JSON)"), "{all}");
    assert!(!all.contains("PROXY-PAGE-MARKER"), "{all}");
    assert!(!last_run_failed(&app).await.contains("PROXY-PAGE-MARKER"));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn an_html_page_from_a_proxy_with_status_502_is_retried_then_fails_without_echoing_it() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Installations,
        Fault::body(502, "text/html", PROXY_PAGE),
    );

    let run = sync_env(&app, &[("AMPSYNC_RETRY_ATTEMPTS", "3")]).await;

    assert_eq!(run.code(), 1);
    assert_eq!(app.api.count(Route::Installations), 3);
    let all = run.stderr() + &run.stdout();
    assert!(
        all.contains("answered 502 Bad Gateway with a text/html body, not a problem document"),
        "{all}"
    );
    assert!(!all.contains("PROXY-PAGE-MARKER"), "{all}");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        0
    );
}

#[tokio::test]
async fn client_errors_401_403_404_422_are_not_retried_and_say_what_to_fix() {
    /// The environment, a fault on the project endpoint, the project, what the error says.
    type Case = (
        &'static [(&'static str, &'static str)],
        Option<Fault>,
        &'static str,
        String,
    );
    let cases: [Case; 4] = [
        (
            &[("AMPERSAND_API_KEY", "amp_live_sk_revoked_key_0000000000")],
            None,
            PROJECT_ID,
            format!("the API key was rejected for project {PROJECT_ID} (401 Unauthorized"),
        ),
        (
            &[],
            Some(Fault::problem(403, "Forbidden", "key lacks the read scope")),
            PROJECT_ID,
            format!("the API key was rejected for project {PROJECT_ID} (403 Forbidden: key lacks the read scope)"),
        ),
        (
            &[],
            None,
            "proj-typo",
            "project proj-typo not found".to_owned(),
        ),
        (
            &[],
            Some(Fault::problem(422, "Unprocessable Entity", "groupRef must not be empty")),
            PROJECT_ID,
            "422 Unprocessable Entity: groupRef must not be empty".to_owned(),
        ),
    ];
    for (env, fault, project, says) in cases {
        let app = spawn_app().await;
        if let Some(fault) = fault {
            app.api.fail_always(Route::Project, fault);
        }

        let run = app.ampsync_env(&["sync", "--project", project], env).await;

        assert_eq!(run.code(), 1, "{says}");
        assert_eq!(app.api.requests().len(), 1, "{says}: not retried");
        assert!(run.logged(RETRYING).is_empty());
        assert!(run.stderr().contains(&says), "{says}: {}", run.stderr());
    }
}

#[tokio::test]
async fn gzip_encoded_bodies_are_accepted() {
    let app = spawn_app().await;
    app.api.state.lock().unwrap().gzip = true;

    app.sync().await;

    let headers = app.api.request_headers();
    assert!(headers.iter().all(|h| h
        .get("accept-encoding")
        .is_some_and(|v| v.to_str().unwrap().contains("gzip"))));
    // Every response: the five of the snapshot and each installation's operations.
    let answered = app.api.requests().len();
    assert_eq!(answered, 5 + 30);
    assert_eq!(app.api.state.lock().unwrap().gzipped, answered);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        30
    );
}

#[tokio::test]
async fn an_api_that_echoes_the_key_in_its_errors_never_gets_it_into_logs_or_sync_runs() {
    let app = spawn_app().await;
    app.api.fail_always(
        Route::Installations,
        Fault::problem(
            401,
            "Unauthorized",
            &format!("API key {API_KEY} was revoked"),
        ),
    );

    let run = sync_env(&app, &[("RUST_LOG", "trace")]).await;

    assert_eq!(run.code(), 1);
    let all = run.stderr() + &run.stdout();
    assert!(all.contains("was revoked"), "{all}");
    assert!(!all.contains(API_KEY), "the key leaked: {all}");
    let dump = app.dump().await;
    assert!(dump.contains("was revoked"));
    assert!(!dump.contains(API_KEY));
}
