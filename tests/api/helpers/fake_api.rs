//! The fake Ampersand API on a local port, and a recorder for where requests must never go.
//!
//! The fake answers like the real API and, on demand, misbehaves like the real world:
//! error statuses with `Retry-After`, bodies that break off, stall or end early, pages
//! from a proxy, gzip. Faults are scripted per endpoint ([`FakeApi::fail`]).

use std::collections::VecDeque;
use std::io::Write;
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
    /// `GET .../installations/{id}/operations`.
    Operations,
    /// `GET /projects/{p}/operations/{id}/logs`.
    OperationLogs,
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
    /// Each installation's operations, oldest first, as they were created.
    pub operations: std::collections::BTreeMap<String, Vec<Value>>,
    /// The order the operations list answers in (the API documents none): by
    /// createTime, newest or oldest first, ties by id.
    pub operations_newest_first: bool,
    /// Each operation's logs; an operation without an entry has none (`[]`), one the
    /// fake does not know answers 404.
    pub operation_logs: std::collections::BTreeMap<String, Value>,
    /// After this many operations pages, this operation is created for the
    /// installation (a new operation arriving while a run pages).
    pub create_after_pages: Option<(usize, String, Value)>,
    operations_pages: usize,
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
            operations: Default::default(),
            operations_newest_first: true,
            operation_logs: Default::default(),
            create_after_pages: None,
            operations_pages: 0,
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
            .route(
                "/v1/projects/{project}/integrations/{integration}/installations/{installation}/operations",
                get(operations_handler),
            )
            .route(
                "/v1/projects/{project}/operations/{operation}/logs",
                get(operation_logs_handler),
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

    /// Creates `operation` (its `installationId` says whose), the newest so far.
    pub fn add_operation(&self, operation: Value) {
        let installation = operation["installationId"].as_str().unwrap().to_owned();
        let mut s = self.state.lock().unwrap();
        s.operations
            .entry(installation)
            .or_default()
            .push(operation);
    }

    /// Replaces the operation with `operation`'s id (a status that moved).
    pub fn update_operation(&self, operation: Value) {
        let mut s = self.state.lock().unwrap();
        for ops in s.operations.values_mut() {
            for op in ops.iter_mut() {
                if op["id"] == operation["id"] {
                    *op = operation.clone();
                }
            }
        }
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
    answer_with(state, route, headers, project, path, |s| {
        Ok(Bytes::from(list_body(s, route, filter)))
    })
}

/// What the project, integrations, installations and list endpoints answer.
fn list_body(s: &FakeState, route: Route, filter: &ListQuery) -> String {
    match route {
        // As the API: entitlements only when asked for.
        Route::Project if filter.include_entitlements.as_deref() == Some("true") => {
            s.project.to_string()
        }
        Route::Project => {
            let mut project = s.project.clone();
            if let Some(fields) = project.as_object_mut() {
                fields.remove("entitlements");
            }
            project.to_string()
        }
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
        Route::Operations | Route::OperationLogs => unreachable!("answered by their handlers"),
    }
}

/// The part every endpoint shares: record the request, play a scripted fault, check the
/// key and the project, then answer with `body` (or the response it gives instead).
fn answer_with(
    state: &Mutex<FakeState>,
    route: Route,
    headers: HeaderMap,
    project: &str,
    path: String,
    body: impl FnOnce(&mut FakeState) -> Result<Bytes, Box<Response>>,
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
    let body = match body(&mut s) {
        Ok(body) => body,
        Err(resp) => return *resp,
    };
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
    Query(query): Query<ListQuery>,
) -> Response {
    let path = query.path(format!("/projects/{project}"));
    answer(&state, Route::Project, headers, &project, path, &query)
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
    #[serde(rename = "includeEntitlements")]
    include_entitlements: Option<String>,
}

impl ListQuery {
    /// The path with this query, as the request had it.
    fn path(&self, base: String) -> String {
        let pairs: Vec<String> = [
            ("groupRef", &self.group_ref),
            ("provider", &self.provider),
            ("consumerRef", &self.consumer_ref),
            ("includeEntitlements", &self.include_entitlements),
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

/// `pageSize` and `pageToken` of the operations list.
#[derive(Default, serde::Deserialize)]
struct PageQuery {
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
}

/// The operations of one installation, a page at a time, in the fake's order. A page
/// token is the offset of the next page: a list that grows between two requests repeats
/// a row at the boundary, as offset paging does. An installation that is not (or no
/// longer) listed answers 404.
async fn operations_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path((project, integration, installation)): Path<(String, String, String)>,
    Query(page): Query<PageQuery>,
) -> Response {
    let mut path = format!("/projects/{project}/integrations/{integration}/installations/{installation}/operations?pageSize={}", page.page_size.unwrap_or(200));
    if let Some(token) = &page.page_token {
        path.push_str(&format!("&pageToken={token}"));
    }
    answer_with(&state, Route::Operations, headers, &project, path, |s| {
        let listed = s.installations.as_array().unwrap().iter().any(|i| {
            i["id"] == installation.as_str() && i["integrationId"] == integration.as_str()
        });
        if !listed {
            return Err(Box::new(problem(
                404,
                "Not Found",
                &format!("installation {installation} not found"),
            )));
        }
        let size = page.page_size.unwrap_or(200).clamp(1, 1000);
        let offset: usize = match page.page_token.as_deref() {
            None => 0,
            Some(token) => match token.strip_prefix("offset-").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return Err(Box::new(problem(400, "Bad Request", "invalid pageToken"))),
            },
        };
        // Ordered as a database would: by createTime, ties by id (ascending either way).
        let mut all = s.operations.get(&installation).cloned().unwrap_or_default();
        let newest_first = s.operations_newest_first;
        all.sort_by(|a, b| {
            let (ta, tb) = (a["createTime"].as_str(), b["createTime"].as_str());
            let by_time = if newest_first {
                tb.cmp(&ta)
            } else {
                ta.cmp(&tb)
            };
            by_time.then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
        });
        let results: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
        let done = offset + results.len() >= all.len();
        let mut pagination = json!({"done": done});
        if !done {
            pagination["nextPageToken"] = json!(format!("offset-{}", offset + results.len()));
        }
        s.operations_pages += 1;
        if let Some((after, _, _)) = &s.create_after_pages {
            if *after == s.operations_pages {
                let (_, whose, op) = s.create_after_pages.take().unwrap();
                s.operations.entry(whose).or_default().push(op);
            }
        }
        Ok(Bytes::from(
            json!({"results": results, "pagination": pagination}).to_string(),
        ))
    })
}

async fn operation_logs_handler(
    State(state): Shared,
    headers: HeaderMap,
    Path((project, operation)): Path<(String, String)>,
) -> Response {
    let path = format!("/projects/{project}/operations/{operation}/logs");
    answer_with(&state, Route::OperationLogs, headers, &project, path, |s| {
        let known = s
            .operations
            .values()
            .flatten()
            .any(|op| op["id"] == operation.as_str());
        if !known {
            return Err(Box::new(problem(
                404,
                "Not Found",
                "Operation not found for the given operation ID.",
            )));
        }
        let logs = s
            .operation_logs
            .get(&operation)
            .cloned()
            .unwrap_or_else(|| json!([]));
        Ok(Bytes::from(logs.to_string()))
    })
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
