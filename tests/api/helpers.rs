//! `spawn_app()`: a uniquely named database (dropped afterwards) and a fake Ampersand
//! API on a local port, plus a runner for the `ampsync` binary.

use std::collections::VecDeque;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The key the fake API accepts: shaped like a real one, so a leak would be found.
pub const API_KEY: &str = "amp_live_sk_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVU";

/// A scripted reply the fake API gives instead of the normal one, once.
#[derive(Clone)]
pub enum Fault {
    /// A status with a body and content type.
    Status {
        status: u16,
        content_type: &'static str,
        body: String,
        retry_after: Option<String>,
    },
}

impl Fault {
    pub fn problem(status: u16, title: &str, detail: &str) -> Fault {
        Fault::Status {
            status,
            content_type: "application/problem+json",
            body:
                json!({"type": "about:blank", "title": title, "status": status, "detail": detail})
                    .to_string(),
            retry_after: None,
        }
    }
}

/// What the fake API serves for its one project.
pub struct FakeState {
    pub project: Value,
    pub integrations: Value,
    pub installations: Value,
    pub faults: VecDeque<Fault>,
    /// Paths (with query) of the requests it answered.
    pub requests: Vec<String>,
}

#[derive(Clone)]
pub struct FakeApi {
    pub state: Arc<Mutex<FakeState>>,
    pub url: String,
}

impl FakeApi {
    pub async fn start(project: Value, integrations: Value, installations: Value) -> FakeApi {
        let state = Arc::new(Mutex::new(FakeState {
            project,
            integrations,
            installations,
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/projects/{project}", get(project_handler))
            .route(
                "/v1/projects/{project}/integrations",
                get(integrations_handler),
            )
            .route(
                "/v1/projects/{project}/installations",
                get(installations_handler),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeApi { state, url }
    }

    pub fn set_installations(&self, installations: Value) {
        self.state.lock().unwrap().installations = installations;
    }

    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

/// The checks the real API makes before answering (the key, the project), and any
/// scripted fault; `Some` is the reply to give instead of the normal one.
fn refusal(
    state: &Mutex<FakeState>,
    headers: &HeaderMap,
    project: &str,
    path: String,
) -> Option<Response> {
    let mut s = state.lock().unwrap();
    s.requests.push(path);
    if let Some(fault) = s.faults.pop_front() {
        return Some(fault_response(fault));
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return Some(problem(401, "Unauthorized", "Invalid API key"));
    }
    if project != s.project["id"] && project != s.project["name"] {
        return Some(problem(
            404,
            "Not Found",
            &format!("project {project} not found"),
        ));
    }
    None
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Status {
            status,
            content_type,
            body,
            retry_after,
        } => {
            let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static(content_type));
            if let Some(after) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from_str(&after).unwrap());
            }
            resp
        }
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Response {
    fault_response(Fault::problem(status, title, detail))
}

fn json_response(value: &Value) -> Response {
    let mut resp = Body::from(value.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

async fn project_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    if let Some(resp) = refusal(&state, &headers, &project, format!("/projects/{project}")) {
        return resp;
    }
    json_response(&state.lock().unwrap().project)
}

async fn integrations_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    if let Some(resp) = refusal(
        &state,
        &headers,
        &project,
        format!("/projects/{project}/integrations"),
    ) {
        return resp;
    }
    json_response(&state.lock().unwrap().integrations)
}

#[derive(serde::Deserialize)]
struct InstallationsQuery {
    #[serde(rename = "groupRef")]
    group_ref: Option<String>,
}

async fn installations_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<InstallationsQuery>,
) -> Response {
    let path = match &query.group_ref {
        Some(g) => format!("/projects/{project}/installations?groupRef={g}"),
        None => format!("/projects/{project}/installations"),
    };
    if let Some(resp) = refusal(&state, &headers, &project, path) {
        return resp;
    }
    let all = state.lock().unwrap().installations.clone();
    let filtered = match query.group_ref {
        None => all,
        Some(group) => Value::Array(
            all.as_array()
                .unwrap()
                .iter()
                .filter(|i| i["group"]["groupRef"] == group.as_str())
                .cloned()
                .collect(),
        ),
    };
    json_response(&filtered)
}

/// A test's world: its database, its fake API, and the `ampsync` binary.
pub struct TestApp {
    pub db_name: String,
    pub database_url: String,
    pub pool: PgPool,
    pub api: FakeApi,
}

/// The standard project: see `fixtures`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(crate::fixtures::installations(0..30)).await
}

pub async fn spawn_app_with(installations: Value) -> TestApp {
    let db_name = format!("ampsync_test_{}", uuid_like());
    let mut admin = PgConnection::connect(ADMIN_URL)
        .await
        .expect("Postgres runs at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {db_name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let database_url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    let pool = PgPool::connect(&database_url).await.unwrap();
    let api = FakeApi::start(
        crate::fixtures::project(),
        crate::fixtures::integrations(),
        installations,
    )
    .await;
    TestApp {
        db_name,
        database_url,
        pool,
        api,
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}_{:x}_{:04x}",
        nanos,
        std::process::id(),
        fastrand_u16()
    )
}

fn fastrand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl TestApp {
    /// Runs `ampsync ARGS` against this test's database and fake API, with JSON logs.
    pub async fn ampsync(&self, args: &[&str]) -> Run {
        self.ampsync_env(args, &[]).await
    }

    /// As `ampsync`, with extra environment variables (an empty value removes one).
    pub async fn ampsync_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ampsync"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("AMPERSAND_API_URL", &self.api.url)
            .env("AMPERSAND_API_KEY", API_KEY)
            .env("AMPSYNC_LOG_FORMAT", "json")
            .env("AMPSYNC_RETRY_BASE_DELAY", "10ms")
            .kill_on_drop(true);
        for (name, value) in env {
            if value.is_empty() {
                cmd.env_remove(name);
            } else {
                cmd.env(name, value);
            }
        }
        Run(cmd.output().await.expect("the ampsync binary runs"))
    }

    /// `ampsync sync --project <fixture project>`, which must succeed.
    pub async fn sync(&self) -> Run {
        self.ampsync(&["sync", "--project", crate::fixtures::PROJECT_ID])
            .await
            .success()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Every table's and history table's row count, and the newest `changed_at`.
    pub async fn fingerprint(&self) -> Value {
        let mut out = serde_json::Map::new();
        for table in TABLES {
            let (rows, changed): (i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
                &format!("SELECT count(*), max(changed_at) FROM ampersand.{table}"),
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            let history = self
                .count(&format!("SELECT count(*) FROM ampersand.{table}_history"))
                .await;
            out.insert(
                table.to_string(),
                json!({"rows": rows, "changed_at": changed, "history": history}),
            );
        }
        Value::Object(out)
    }

    /// `pg_dump` of schema `ampersand`, data included.
    pub async fn dump(&self) -> String {
        let out = tokio::process::Command::new("pg_dump")
            .args(["--schema=ampersand", "--no-owner", &self.database_url])
            .output()
            .await
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

pub const TABLES: [&str; 8] = [
    "projects",
    "integrations",
    "groups",
    "consumers",
    "provider_apps",
    "connections",
    "configs",
    "installations",
];

impl Drop for TestApp {
    fn drop(&mut self) {
        let db_name = self.db_name.clone();
        // Drop runs outside any runtime's async context: use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(ADMIN_URL).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The output of one `ampsync` run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Panics with the output unless the run exited 0.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code(),
            0,
            "ampsync failed.\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// The JSON log lines on stderr.
    pub fn log_lines(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
