//! `spawn_app()`: a uniquely named database (dropped afterwards) and a fake Ampersand
//! API on a local port, plus a runner for the `ampsync` binary.
//!
//! The fake answers like the real API and, on demand, misbehaves like the real world:
//! error statuses with `Retry-After`, bodies that break off, stall or end early, pages
//! from a proxy, gzip. Faults are scripted per endpoint ([`FakeApi::fail`]).

use std::collections::VecDeque;
use std::io::Write;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};

/// The PostgreSQL server the suite runs against, as `host:port`: `AMPSYNC_TEST_SERVER`,
/// else the local server. Tests create and drop databases of their own on it.
pub fn server() -> String {
    std::env::var("AMPSYNC_TEST_SERVER").unwrap_or_else(|_| "127.0.0.1:5432".into())
}

/// The URL of database `db` on the test server, as `login` (trust auth).
pub fn database_url(login: &str, db: &str) -> String {
    format!("postgres://{login}@{}/{db}", server())
}

/// The test server's `postgres` database, as the superuser.
pub fn admin_url() -> String {
    database_url("postgres", "postgres")
}

/// A PostgreSQL client program (`psql`, `pg_dump`): from the directory
/// `AMPSYNC_TEST_PG_BIN` names, else from `PATH`. A client older than the server cannot
/// dump it, so a run against a newer server names newer clients.
pub fn pg_tool(name: &str) -> std::path::PathBuf {
    match std::env::var_os("AMPSYNC_TEST_PG_BIN") {
        Some(dir) => std::path::Path::new(&dir).join(name),
        None => name.into(),
    }
}
/// The key the fake API accepts: shaped like a real one, so a leak would be found.
pub const API_KEY: &str = "amp_live_sk_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVU";

/// The endpoints of one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Project,
    Integrations,
    Installations,
    Connections,
    ProviderApps,
}

/// A scripted reply the fake API gives instead of the normal one.
#[derive(Clone)]
pub enum Fault {
    /// A status with a body and content type.
    Status {
        status: u16,
        content_type: &'static str,
        body: String,
        retry_after: Option<String>,
    },
    /// A complete `200` whose body is the normal one cut after `keep` bytes.
    CutShort { keep: usize },
    /// The first `keep` bytes of the normal body, then the connection breaks.
    ResetMidBody { keep: usize },
    /// Headers and the first `keep` bytes of the normal body, then nothing, ever.
    Stall { keep: usize },
    /// The first `keep` bytes of the normal body; the rest once `gate` opens.
    Gated { keep: usize, gate: Gate },
    /// The normal body, `chunk` bytes at a time, one chunk every `every`.
    Trickle { chunk: usize, every: Duration },
    /// Any response the test builds (a redirect, a gzip bomb).
    Custom(Arc<dyn Fn() -> Response + Send + Sync>),
}

impl Fault {
    pub fn custom(respond: impl Fn() -> Response + Send + Sync + 'static) -> Fault {
        Fault::Custom(Arc::new(respond))
    }

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

    /// A `200` (or any status) with `body` as `content_type`.
    pub fn body(status: u16, content_type: &'static str, body: &str) -> Fault {
        Fault::Status {
            status,
            content_type,
            body: body.to_owned(),
            retry_after: None,
        }
    }

    /// This fault with a `Retry-After` header.
    pub fn retry_after(self, value: &str) -> Fault {
        match self {
            Fault::Status {
                status,
                content_type,
                body,
                ..
            } => Fault::Status {
                status,
                content_type,
                body,
                retry_after: Some(value.to_owned()),
            },
            other => other,
        }
    }
}

/// A response held back until the test opens it.
#[derive(Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }
    pub fn open(&self) {
        self.0.send_replace(true);
    }
    async fn passed(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

struct Scripted {
    /// `None`: any endpoint.
    route: Option<Route>,
    fault: Fault,
    times: usize,
}

/// What the fake API serves for its one project.
pub struct FakeState {
    pub project: Value,
    pub integrations: Value,
    pub installations: Value,
    /// `GET /projects/{p}/connections`; `None`: the connections the installations
    /// embed, as the real API would list them.
    pub connections: Option<Value>,
    /// `GET /projects/{p}/provider-apps`; `None`: the provider apps the installations'
    /// connections embed.
    pub provider_apps: Option<Value>,
    faults: VecDeque<Scripted>,
    /// Each request answered: its endpoint, its path (with query) and its headers.
    requests: Vec<(Route, String, HeaderMap)>,
    /// Compress bodies when the client accepts gzip.
    pub gzip: bool,
    /// How many responses went out gzip-encoded.
    pub gzipped: usize,
}

impl FakeState {
    /// Forgets every scripted fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let at = self
            .faults
            .iter()
            .position(|f| f.route.is_none_or(|r| r == route))?;
        let scripted = &mut self.faults[at];
        scripted.times -= 1;
        let fault = scripted.fault.clone();
        if scripted.times == 0 {
            self.faults.remove(at);
        }
        Some(fault)
    }
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
            connections: None,
            provider_apps: None,
            faults: VecDeque::new(),
            requests: Vec::new(),
            gzip: false,
            gzipped: 0,
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
            .route(
                "/v1/projects/{project}/connections",
                get(connections_handler),
            )
            .route(
                "/v1/projects/{project}/provider-apps",
                get(provider_apps_handler),
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

    /// What `GET /projects/{p}/connections` lists from now on.
    pub fn set_connections(&self, connections: Value) {
        self.state.lock().unwrap().connections = Some(connections);
    }

    /// What `GET /projects/{p}/provider-apps` lists from now on.
    pub fn set_provider_apps(&self, provider_apps: Value) {
        self.state.lock().unwrap().provider_apps = Some(provider_apps);
    }

    /// The next request, to any endpoint, gets `fault`.
    pub fn push_fault(&self, fault: Fault) {
        self.script(None, fault, 1);
    }

    /// The next `times` requests to `route` get `fault`.
    pub fn fail(&self, route: Route, fault: Fault, times: usize) {
        self.script(Some(route), fault, times);
    }

    /// Every request to `route` gets `fault`.
    pub fn fail_always(&self, route: Route, fault: Fault) {
        self.script(Some(route), fault, usize::MAX);
    }

    fn script(&self, route: Option<Route>, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.push_back(Scripted {
            route,
            fault,
            times,
        });
    }

    /// Paths (with query) of the requests it answered.
    pub fn requests(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.requests.iter().map(|(_, path, _)| path.clone()).collect()
    }

    /// How many requests `route` received.
    pub fn count(&self, route: Route) -> usize {
        let s = self.state.lock().unwrap();
        s.requests.iter().filter(|(r, _, _)| *r == route).count()
    }

    /// The headers of every request received.
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        let s = self.state.lock().unwrap();
        s.requests.iter().map(|(_, _, h)| h.clone()).collect()
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

/// Answers one request: a scripted fault if there is one, else what the real API would.
fn answer(
    state: &Mutex<FakeState>,
    route: Route,
    headers: HeaderMap,
    project: &str,
    path: String,
    filter: &ListQuery,
) -> Response {
    let mut s = state.lock().unwrap();
    let accepts_gzip = headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    s.requests.push((route, path, headers.clone()));
    let fault = s.take_fault(route);
    if let Some(Fault::Status { .. } | Fault::Custom(_)) = fault {
        return fault_response(fault.unwrap(), Bytes::new());
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return problem(401, "Unauthorized", "Invalid API key");
    }
    if project != s.project["id"] && project != s.project["name"] {
        return problem(404, "Not Found", &format!("project {project} not found"));
    }
    let body = Bytes::from(match route {
        Route::Project => s.project.to_string(),
        Route::Integrations => s.integrations.to_string(),
        Route::Installations => match filter.group_ref.as_deref() {
            None => s.installations.to_string(),
            Some(group) => Value::Array(
                s.installations
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| i["group"]["groupRef"] == group)
                    .cloned()
                    .collect(),
            )
            .to_string(),
        },
        Route::Connections => {
            let all = s
                .connections
                .clone()
                .unwrap_or_else(|| embedded(&s.installations, |i| Some(i["connection"].clone())));
            Value::Array(
                all.as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| filter.matches(c))
                    .cloned()
                    .collect(),
            )
            .to_string()
        }
        Route::ProviderApps => s
            .provider_apps
            .clone()
            .unwrap_or_else(|| {
                embedded(&s.installations, |i| {
                    Some(i["connection"]["providerApp"].clone())
                })
            })
            .to_string(),
    });
    if let Some(fault) = fault {
        return fault_response(fault, body);
    }
    if s.gzip && accepts_gzip {
        s.gzipped += 1;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).unwrap();
        let mut resp = json_response(Body::from(encoder.finish().unwrap()));
        resp.headers_mut()
            .insert("content-encoding", HeaderValue::from_static("gzip"));
        return resp;
    }
    json_response(Body::from(body))
}

/// The distinct objects (by `id`) that `pick` finds in the installations, in order.
fn embedded(installations: &Value, pick: impl Fn(&Value) -> Option<Value>) -> Value {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for inst in installations.as_array().into_iter().flatten() {
        if let Some(object) = pick(inst).filter(|o| o.is_object()) {
            if seen.insert(object["id"].to_string()) {
                out.push(object);
            }
        }
    }
    Value::Array(out)
}

fn fault_response(fault: Fault, body: Bytes) -> Response {
    let prefix = |keep: usize| body.slice(..keep.min(body.len()));
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
        Fault::Custom(respond) => respond(),
        Fault::CutShort { keep } => json_response(Body::from(prefix(keep))),
        Fault::ResetMidBody { keep } => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(prefix(keep)),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by the fake",
                )),
            ];
            json_response(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Fault::Stall { keep } => {
            let stream = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(
                prefix(keep),
            )))
            .chain(futures_util::stream::pending());
            json_response(Body::from_stream(stream))
        }
        Fault::Gated { keep, gate } => {
            let rest = body.slice(keep.min(body.len())..);
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(prefix(keep))]).chain(
                futures_util::stream::once(async move {
                    gate.passed().await;
                    Ok(rest)
                }),
            );
            json_response(Body::from_stream(stream))
        }
        Fault::Trickle { chunk, every } => {
            let stream = futures_util::stream::unfold(body, move |mut rest| async move {
                if rest.is_empty() {
                    return None;
                }
                tokio::time::sleep(every).await;
                let part = rest.split_to(chunk.min(rest.len()));
                Some((Ok::<_, std::io::Error>(part), rest))
            });
            json_response(Body::from_stream(stream))
        }
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Response {
    fault_response(Fault::problem(status, title, detail), Bytes::new())
}

fn json_response(body: Body) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

async fn project_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    let path = format!("/projects/{project}");
    let none = ListQuery::default();
    answer(&state, Route::Project, headers, &project, path, &none)
}

async fn integrations_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    let path = format!("/projects/{project}/integrations");
    let none = ListQuery::default();
    answer(&state, Route::Integrations, headers, &project, path, &none)
}

/// The query filters of the list endpoints (`Connection[]` takes all three;
/// installations only `groupRef`).
#[derive(Default, serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "groupRef")]
    group_ref: Option<String>,
    provider: Option<String>,
    #[serde(rename = "consumerRef")]
    consumer_ref: Option<String>,
}

impl ListQuery {
    /// The path with this query, as the request had it.
    fn path(&self, base: String) -> String {
        let pairs: Vec<String> = [
            ("groupRef", &self.group_ref),
            ("provider", &self.provider),
            ("consumerRef", &self.consumer_ref),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name}={v}")))
        .collect();
        if pairs.is_empty() {
            base
        } else {
            format!("{base}?{}", pairs.join("&"))
        }
    }

    /// Whether connection `c` passes the filters.
    fn matches(&self, c: &Value) -> bool {
        self.group_ref
            .as_ref()
            .is_none_or(|g| c["group"]["groupRef"] == g.as_str())
            && self
                .provider
                .as_ref()
                .is_none_or(|p| c["provider"] == p.as_str())
            && self
                .consumer_ref
                .as_ref()
                .is_none_or(|r| c["consumer"]["consumerRef"] == r.as_str())
    }
}

async fn installations_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let path = query.path(format!("/projects/{project}/installations"));
    answer(
        &state,
        Route::Installations,
        headers,
        &project,
        path,
        &query,
    )
}

async fn connections_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let path = query.path(format!("/projects/{project}/connections"));
    answer(&state, Route::Connections, headers, &project, path, &query)
}

async fn provider_apps_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    let path = format!("/projects/{project}/provider-apps");
    let none = ListQuery::default();
    answer(&state, Route::ProviderApps, headers, &project, path, &none)
}

/// A server that answers every request with `404` and remembers what it was sent: where
/// a key must never arrive (another host, a proxy).
#[derive(Clone)]
pub struct Recorder {
    /// `host:port` it listens on.
    pub addr: std::net::SocketAddr,
    /// Each request's URI and headers.
    pub requests: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

impl Recorder {
    pub async fn start(ip: &str) -> Recorder {
        let requests: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
        let seen = requests.clone();
        let app = Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((uri.to_string(), headers));
                StatusCode::NOT_FOUND
            }
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { addr, requests }
    }

    pub fn received(&self) -> Vec<(String, HeaderMap)> {
        self.requests.lock().unwrap().clone()
    }
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
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| panic!("Postgres runs at {} (AMPSYNC_TEST_SERVER): {e}", server()));
    sqlx::query(&format!("CREATE DATABASE {db_name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let database_url = database_url("postgres", &db_name);
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
        Run(self
            .command(args, env)
            .output()
            .await
            .expect("the ampsync binary runs"))
    }

    /// As `ampsync_env`, and the peak resident memory of the ampsync process, in bytes.
    ///
    /// `wait4`'s `ru_maxrss` alone is not that: Linux carries the spawning process's
    /// high-water mark over into the child's at `exec` (std spawns with a shared address
    /// space), so with the whole suite running in this process it reads the suite's
    /// peak (190 MB seen), not ampsync's. The child's own `VmHWM` (the peak of the
    /// address space `exec` gave it) is polled from `/proc` while it runs instead; only
    /// if the run ends before one is read does `ru_maxrss` stand in.
    pub async fn ampsync_measured(&self, args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
        use std::io::Read;
        use std::os::unix::process::ExitStatusExt;
        let mut cmd = self.command(args, env);
        let std_cmd = cmd.as_std_mut();
        std_cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // A `pre_exec` hook makes std fork instead of posix_spawn (vfork): a vforked
        // child execs from this process's own address space, and Linux carries that
        // space's high-water mark into the child's `ru_maxrss`, so the measure would be
        // the peak of this whole test process (every test in it) so far. Forked, the
        // child starts from a copy whose mark is this process's current RSS.
        // SAFETY: the hook does nothing, so it is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            std_cmd.pre_exec(|| Ok(()));
        }
        // Reaped by `wait4` below, which std's `wait` would not let us read rusage from.
        #[allow(clippy::zombie_processes)]
        let mut child = std_cmd.spawn().expect("the ampsync binary starts");
        let pid = child.id();
        let poller = std::thread::spawn(move || peak_after_exec(pid));
        tokio::task::spawn_blocking(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut stderr = child.stderr.take().unwrap();
            let reader = std::thread::spawn(move || {
                stderr.read_to_end(&mut err).unwrap();
                err
            });
            child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
            let err = reader.join().unwrap();
            // The child has exited (its pipes closed) but is not reaped: the poller sees
            // a zombie and stops.
            let polled = poller.join().unwrap();
            let mut status = 0;
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let pid = child.id() as libc::pid_t;
            // SAFETY: waits for our own child, which std has not reaped.
            let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            assert_eq!(waited, pid, "wait4 failed");
            let output = Output {
                status: std::process::ExitStatus::from_raw(status),
                stdout: out,
                stderr: err,
            };
            (Run(output), polled.unwrap_or(usage.ru_maxrss as u64 * 1024))
        })
        .await
        .unwrap()
    }

    /// As `ampsync`, with the process's umask set to `umask` (the files it creates
    /// get `0666` less it).
    pub async fn ampsync_umask(&self, umask: u32, args: &[&str]) -> Run {
        let mut cmd = self.command(args, &[]);
        // SAFETY: umask(2) is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask as libc::mode_t);
                Ok(())
            });
        }
        Run(cmd.output().await.expect("the ampsync binary runs"))
    }

    /// Starts `ampsync ARGS` without waiting for it; its output is piped.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        self.command(args, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the ampsync binary starts")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
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
        cmd
    }

    /// `ampsync sync --project <fixture project>`, which must succeed.
    pub async fn sync(&self) -> Run {
        self.ampsync(&["sync", "--project", crate::fixtures::PROJECT_ID])
            .await
            .success()
    }

    /// Every `sync_runs` row: (id, project, status, error), oldest first.
    pub async fn runs(&self) -> Vec<(i64, String, String, Option<String>)> {
        sqlx::query_as("SELECT id, project, status, error FROM ampersand.sync_runs ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
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
        let out = tokio::process::Command::new(pg_tool("pg_dump"))
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

/// The highest `VmHWM` of process `pid` once it runs `ampsync`, polled until it exits.
fn peak_after_exec(pid: u32) -> Option<u64> {
    let mut peak = None;
    loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return peak;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        if field("State:").is_none_or(|s| s.starts_with('Z')) {
            return peak;
        }
        // Before `exec` the child still shares the test's address space.
        if field("Name:") == Some("ampsync") {
            if let Some(kb) =
                field("VmHWM:").and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(Some(kb * 1024));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The synced tables, from ampsync's catalog.
pub const TABLES: [&str; 8] = ampsync::catalog::Table::NAMES;

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
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Polls `check` until it holds; a test fails when it never does (a generous bound, not
/// a timing assertion).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to a running ampsync.
pub fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("the child is running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a spawned ampsync to exit; fails the test if it has not within `limit`.
pub async fn exited_within(child: tokio::process::Child, limit: Duration) -> Run {
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => Run(output.unwrap()),
        Err(_) => panic!("ampsync did not exit within {limit:?}"),
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
    /// The log lines whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }
    /// The JSON log lines on stderr.
    pub fn log_lines(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
