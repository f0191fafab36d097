//! Fetches one project from the Ampersand API: `GET /projects/{p}`,
//! `/projects/{p}/integrations`, `/projects/{p}/installations[?groupRef=]` and the
//! lists `/projects/{p}/connections[?groupRef=]` and `/projects/{p}/provider-apps`;
//! and, for `operations`, each installation's operations page by page and an
//! operation's logs.
//!
//! Every request has a connect timeout, a stall (read) timeout and an overall timeout;
//! 429, 5xx and connection failures are retried with exponential backoff and full
//! jitter, honouring `Retry-After`, within a budget of attempts and of total time
//! (the policy and its arithmetic: `retry`).
//!
//! The API is not trusted with more than its answers: a redirect to another origin
//! (scheme, host or port) is refused, since the key header would go with it; what a
//! response can make the job hold is capped ([`Limits`]), decoded size included, so a
//! gzip bomb stops at the cap; proxies from the environment are not used for a loopback
//! `http://` base URL, whose traffic must not leave the machine.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::{ApiError, Attempts};
use super::model::{Problem, Project};
use super::retry::{retry_after, RetryPolicy};
use super::stream::{read_array, ElementSink, StreamError};
use crate::catalog::List;

/// What a list endpoint gave.
pub enum Listed<S> {
    /// The whole array, in the sink, and its number of elements.
    Read(S, u64),
    /// The API answered 403 or 404: this API or key does not offer the list. Why, as
    /// `{endpoint} answered {status}: {problem detail}` (scrubbed).
    Unavailable(String),
}

/// The installation whose operations a request lists.
#[derive(Debug, Clone, Copy)]
pub struct OperationsOf<'a> {
    pub integration: &'a str,
    pub installation: &'a str,
}

/// One page of an installation's operations, as the API answers it.
#[derive(Debug, serde::Deserialize)]
pub struct OperationsPage {
    pub results: Vec<Value>,
    pub pagination: Pagination,
}

/// `PaginationInfo`: `done` on the last page; otherwise the token of the next.
#[derive(Debug, serde::Deserialize)]
pub struct Pagination {
    pub done: bool,
    #[serde(rename = "nextPageToken")]
    pub next_page_token: Option<String>,
}

/// Caps on what one response can make the job hold in memory, on decoded bytes (after
/// gzip). Hitting one fails the run; see `--max-body-size` and `--max-element-size`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A body read whole: the project and the integrations.
    pub body: u64,
    /// One element of the installations array (which is streamed, never held whole).
    pub element: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: 64 << 20,
            element: 32 << 20,
        }
    }
}

/// An error body is read only this far: a problem document is a few hundred bytes.
const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// Same-origin redirects followed at most, per request.
const MAX_REDIRECTS: usize = 5;

/// Everything the client needs; built from the command line and environment. Its
/// `Debug` shows the key as `[REDACTED]`.
#[derive(Debug)]
pub struct ApiSettings {
    pub base_url: Url,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    /// A read that waits longer than this for the next bytes fails (a stalled response).
    pub stall_timeout: Duration,
    /// The whole request, body included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub limits: Limits,
}

/// Its `Debug` shows the key header as `Sensitive`.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: Url,
    retry: RetryPolicy,
    limits: Limits,
}

/// The outcome of one attempt that may be worth repeating.
enum Failure {
    Retry {
        reason: String,
        status: Option<StatusCode>,
        detail: String,
        wait: Option<Duration>,
    },
    Fatal(ApiError),
}

impl Failure {
    /// A connection that failed, timed out or broke off: worth another attempt.
    fn transport(reason: String) -> Failure {
        Failure::Retry {
            reason,
            status: None,
            detail: String::new(),
            wait: None,
        }
    }
}

impl ApiClient {
    pub fn new(settings: ApiSettings) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        // A key that is not a valid header value fails at the first request instead.
        if let Ok(mut key) = HeaderValue::from_str(settings.api_key.expose_secret()) {
            key.set_sensitive(true);
            headers.insert("X-Api-Key", key);
        }
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut base_url = settings.base_url;
        if !base_url.path().ends_with('/') {
            base_url.set_path(&format!("{}/", base_url.path()));
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("ampsync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.stall_timeout)
            .timeout(settings.request_timeout)
            .redirect(same_origin_only(&base_url));
        // Plain http is allowed only to loopback (see `config::api_url`): a proxy from
        // HTTP_PROXY would carry that traffic, key included, off the machine.
        if base_url.scheme() == "http" {
            builder = builder.no_proxy();
        }
        Ok(ApiClient {
            http: builder.build()?,
            base_url,
            retry: settings.retry,
            limits: settings.limits,
        })
    }

    /// `GET /projects/{project}?includeEntitlements=true`.
    pub async fn project(&self, project: &str) -> Result<Project, ApiError> {
        // With its entitlements: `logRetentionDays` says which operation logs still exist.
        let mut endpoint = self.endpoint(project, &[], None);
        endpoint.push_str("?includeEntitlements=true");
        self.fetch_json(project, &endpoint).await
    }

    /// `GET /projects/{project}/integrations`, as raw elements: reading them into
    /// integrations is the snapshot's job, so one bad element does not fail the rest.
    pub async fn integrations(&self, project: &str) -> Result<Vec<Value>, ApiError> {
        let endpoint = self.endpoint(project, &["integrations"], None);
        self.fetch_json(project, &endpoint).await
    }

    /// `GET /projects/{project}/installations[?groupRef=]`, streamed into a sink made
    /// fresh for each attempt (a retry starts the array over). Returns the sink of the
    /// attempt that read the whole array, and the number of elements.
    pub async fn installations<S: ElementSink>(
        &self,
        project: &str,
        group_ref: Option<&str>,
        new_sink: impl Fn() -> S,
    ) -> Result<(S, u64), ApiError> {
        let endpoint = self.endpoint(project, &["installations"], group_ref);
        self.stream(project, &endpoint, new_sink).await
    }

    /// `GET /projects/{project}/{list}` (`connections` takes `?groupRef=`), streamed
    /// like the installations. A 403 or 404 means this API or key does not offer the
    /// list: [`Listed::Unavailable`], not an error, so the run goes on without it.
    pub async fn list<S: ElementSink>(
        &self,
        project: &str,
        list: List,
        group_ref: Option<&str>,
        new_sink: impl Fn() -> S,
    ) -> Result<Listed<S>, ApiError> {
        let group_ref = group_ref.filter(|_| list == List::Connections);
        let endpoint = self.endpoint(project, &[list.path()], group_ref);
        match self.stream(project, &endpoint, new_sink).await {
            Ok((sink, count)) => Ok(Listed::Read(sink, count)),
            Err(
                ApiError::KeyRejected { status, detail, .. }
                | ApiError::NotFound { status, detail, .. },
            ) if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND => Ok(
                Listed::Unavailable(format!("{endpoint} answered {status}{detail}")),
            ),
            Err(e) => Err(e),
        }
    }

    /// One page of `GET /projects/{project}/integrations/{integration}/installations/
    /// {installation}/operations`, read whole (a page is at most 1,000 operations, and
    /// the body cap applies), each operation left as a `Value` for `operations::record`.
    pub async fn operations_page(
        &self,
        project: &str,
        installation: &OperationsOf<'_>,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<OperationsPage, ApiError> {
        let mut endpoint = self.endpoint(
            project,
            &[
                "integrations",
                &encode(installation.integration),
                "installations",
                &encode(installation.installation),
                "operations",
            ],
            None,
        );
        endpoint.push_str(&format!("?pageSize={page_size}"));
        if let Some(token) = page_token {
            endpoint.push_str("&pageToken=");
            endpoint.push_str(&encode(token));
        }
        self.fetch_json(project, &endpoint).await
    }

    /// `GET /projects/{project}/operations/{operation}/logs`: a bare array of entries.
    pub async fn operation_logs(
        &self,
        project: &str,
        operation: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let endpoint = self.endpoint(project, &["operations", &encode(operation), "logs"], None);
        self.fetch_json(project, &endpoint).await
    }

    /// GETs `endpoint`, a JSON array, streamed into a sink made fresh for each attempt.
    async fn stream<S: ElementSink>(
        &self,
        project: &str,
        endpoint: &str,
        new_sink: impl Fn() -> S,
    ) -> Result<(S, u64), ApiError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.send(project, endpoint).await {
                Ok(resp) => {
                    let kind = content_type(&resp);
                    let body = resp.bytes_stream().map(|chunk| chunk.map_err(describe));
                    let max_element = usize::try_from(self.limits.element).unwrap_or(usize::MAX);
                    match read_array(body, new_sink(), max_element).await {
                        Ok(done) => return Ok(done),
                        Err(StreamError::Interrupted(reason)) => Failure::transport(reason),
                        Err(StreamError::Invalid(reason)) => {
                            Failure::Fatal(body_error(project, endpoint, kind, &reason))
                        }
                    }
                }
                Err(failure) => failure,
            };
            self.after_failure(project, endpoint, failure, attempt, started)
                .await?;
        }
    }

    /// Sends a GET and reads its body as one JSON value, retrying as the policy allows.
    /// A body that ends early is retried like a broken connection; a complete body that
    /// is not the JSON expected is not (the next answer would be the same).
    async fn fetch_json<T: DeserializeOwned>(
        &self,
        project: &str,
        endpoint: &str,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.send(project, endpoint).await {
                Ok(resp) => {
                    let kind = content_type(&resp);
                    match read_capped(resp, self.limits.body).await {
                        Err(Capped::Broken(reason)) => Failure::transport(reason),
                        Err(Capped::TooLarge) => Failure::Fatal(ApiError::TooLarge {
                            project: project.to_owned(),
                            endpoint: endpoint.to_owned(),
                            limit: bytesize::ByteSize(self.limits.body),
                        }),
                        Ok(body) => match serde_json::from_slice(&body) {
                            Ok(value) => return Ok(value),
                            Err(e) if e.is_eof() => {
                                Failure::transport(format!("the body ended early: {e}"))
                            }
                            Err(e) => {
                                Failure::Fatal(body_error(project, endpoint, kind, &e.to_string()))
                            }
                        },
                    }
                }
                Err(failure) => failure,
            };
            self.after_failure(project, endpoint, failure, attempt, started)
                .await?;
        }
    }

    /// One attempt: a response with a success status, or why there is none.
    async fn send(&self, project: &str, endpoint: &str) -> Result<Response, Failure> {
        let url = format!("{}{}", self.base_url, endpoint.trim_start_matches('/'));
        let resp = match self.http.get(url).send().await {
            Ok(resp) => resp,
            Err(e) if e.is_redirect() => {
                return Err(Failure::Fatal(ApiError::Transport {
                    project: project.to_owned(),
                    endpoint: endpoint.to_owned(),
                    reason: format!("more than {MAX_REDIRECTS} redirects"),
                    attempts: Attempts::default(),
                }))
            }
            Err(e) => return Err(Failure::transport(describe(e))),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status.is_redirection() {
            // Only a redirect to another origin stops here (see `same_origin_only`).
            return Err(Failure::Fatal(ApiError::Redirect {
                project: project.to_owned(),
                endpoint: endpoint.to_owned(),
                status,
                target: redirect_target(&resp),
            }));
        }
        let wait = retry_after(resp.headers());
        let detail = problem_detail(status, resp).await;
        let (project, endpoint) = (project.to_owned(), endpoint.to_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Failure::Fatal(ApiError::KeyRejected {
                    project,
                    status,
                    detail,
                })
            }
            StatusCode::NOT_FOUND => Failure::Fatal(ApiError::NotFound {
                project,
                endpoint,
                status,
                detail,
            }),
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Failure::Retry {
                reason: format!("status {s}"),
                status: Some(s),
                detail,
                wait,
            },
            _ => Failure::Fatal(ApiError::Status {
                project,
                endpoint,
                status,
                detail,
                attempts: Attempts::default(),
            }),
        })
    }

    /// Waits before the next attempt, or turns the failure into the final error.
    async fn after_failure(
        &self,
        project: &str,
        endpoint: &str,
        failure: Failure,
        attempt: u32,
        started: Instant,
    ) -> Result<(), ApiError> {
        let (reason, status, detail, wait) = match failure {
            Failure::Fatal(e) => return Err(e),
            Failure::Retry {
                reason,
                status,
                detail,
                wait,
            } => (reason, status, detail, wait),
        };
        // The server's Retry-After is honoured as given; the time budget bounds it. It
        // can be as large as 2^64 - 1 seconds: the sum must not overflow.
        let backoff = wait.unwrap_or_else(|| self.retry.backoff(attempt));
        let elapsed = started.elapsed();
        let out_of_attempts = attempt >= self.retry.max_attempts;
        let past_budget = elapsed
            .checked_add(backoff)
            .is_none_or(|at| at > self.retry.max_elapsed);
        if out_of_attempts || past_budget {
            let attempts = Attempts {
                count: attempt,
                elapsed,
                // Only worth saying when it is why no further attempt was made.
                refused_wait: wait.filter(|_| !out_of_attempts),
                budget: self.retry.max_elapsed,
            };
            let (project, endpoint) = (project.to_owned(), endpoint.to_owned());
            return Err(match status {
                Some(status) => ApiError::Status {
                    project,
                    endpoint,
                    status,
                    detail,
                    attempts,
                },
                None => ApiError::Transport {
                    project,
                    endpoint,
                    reason,
                    attempts,
                },
            });
        }
        let reason = crate::scrub::scrub_text(&reason);
        tracing::warn!(
            project, endpoint, attempt, reason = %reason, detail = %detail.trim_start_matches(": "),
            retry_in_ms = backoff.as_millis() as u64, retry_after = wait.is_some(),
            "request failed; retrying"
        );
        tokio::time::sleep(backoff).await;
        Ok(())
    }

    /// `/projects/{project}/{rest}?groupRef=`, each part percent-encoded: the path
    /// below the base URL, which is also how errors name the endpoint.
    fn endpoint(&self, project: &str, rest: &[&str], group_ref: Option<&str>) -> String {
        let mut path = format!("/projects/{}", encode(project));
        for part in rest {
            path.push('/');
            path.push_str(part);
        }
        if let Some(group) = group_ref {
            path.push_str("?groupRef=");
            path.push_str(&encode(group));
        }
        path
    }
}

/// A redirect policy that follows a redirect only within the base URL's origin (scheme,
/// host and port): the `X-Api-Key` header goes with every request this client sends,
/// and reqwest strips only `Authorization` and `Cookie` on a cross-host redirect. A
/// same-origin target passed the https / loopback rule with the base URL, so it can be
/// neither a downgrade nor a new host. Any other redirect is not followed: its 3xx
/// response comes back to [`ApiClient::send`], which fails the run naming the target.
fn same_origin_only(base_url: &Url) -> Policy {
    let origin = base_url.origin();
    Policy::custom(move |attempt| {
        if attempt.url().origin() != origin {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Where a refused redirect pointed: its origin only (`https://host:port`), since its
/// path or query may carry anything.
fn redirect_target(resp: &Response) -> String {
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| resp.url().join(v).ok());
    match location {
        Some(url) => crate::scrub::scrub_text(&url.origin().ascii_serialization()),
        None => "no usable Location".to_owned(),
    }
}

/// Why a body read whole has no value.
enum Capped {
    /// The connection broke off: worth another attempt.
    Broken(String),
    /// The decoded body is larger than the cap.
    TooLarge,
}

/// Reads a body whole, decoded, but never more than `limit` bytes of it: reading stops
/// (and so does the gzip decoder, which only runs as the body is read) at the cap.
async fn read_capped(resp: Response, limit: u64) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Capped::TooLarge);
    }
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Capped::Broken(describe(e)))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// ": title: detail" from a problem document. A body that is not one (an HTML page from
/// a proxy, say) is never echoed: only its content type is named.
async fn problem_detail(status: StatusCode, resp: Response) -> String {
    let kind = content_type(&resp);
    if !kind.as_deref().is_some_and(|ct| ct.contains("json")) {
        return match kind {
            Some(kind) => format!(" with a {kind} body, not a problem document"),
            None => String::new(),
        };
    }
    let problem: Problem = match read_capped(resp, ERROR_BODY_LIMIT).await {
        Ok(body) => match serde_json::from_slice(&body) {
            Ok(problem) => problem,
            Err(_) => return String::new(),
        },
        Err(Capped::TooLarge) => return " with a problem document too large to read".into(),
        Err(Capped::Broken(_)) => return String::new(),
    };
    // A title that only repeats the status line (`Not Found`) says nothing new.
    let title = problem
        .title
        .filter(|t| Some(t.as_str()) != status.canonical_reason());
    let parts: Vec<String> = [title, problem.detail]
        .into_iter()
        .flatten()
        .map(|text| crate::scrub::scrub_text(&text))
        .filter(|text| !text.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(": "))
    }
}

/// The response's media type (`text/html`), without parameters.
fn content_type(resp: &Response) -> Option<String> {
    let value = resp.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    (!media.is_empty()).then(|| media.chars().take(64).collect())
}

fn describe(e: reqwest::Error) -> String {
    // reqwest's own message names the URL; the chain below it says what happened.
    let mut reason = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the body broke off".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

fn encode(part: &str) -> String {
    url::form_urlencoded::byte_serialize(part.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A complete body that is not what the endpoint promises. The parser's message is kept
/// without the values it quotes, so no part of the body is echoed.
fn body_error(project: &str, endpoint: &str, kind: Option<String>, reason: &str) -> ApiError {
    let kind = match kind {
        Some(kind) if !kind.contains("json") => format!(" ({kind}, not JSON)"),
        _ => String::new(),
    };
    ApiError::Body {
        project: project.into(),
        endpoint: endpoint.into(),
        reason: format!("{}{kind}", crate::scrub::scrub_reason(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: &str) -> ApiSettings {
        ApiSettings {
            base_url: Url::parse("https://api.withampersand.com/v1").unwrap(),
            api_key: SecretString::from(key.to_owned()),
            connect_timeout: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn debug_output_of_the_settings_and_the_client_never_shows_the_key() {
        let key = "amp_live_sk_debug_Zq81Lm3Xw7Pv5Tn2";

        let shown = format!("{:?}", settings(key));
        let client = format!("{:?}", ApiClient::new(settings(key)).unwrap());

        assert!(shown.contains("api_key") && !shown.contains(key), "{shown}");
        assert!(
            client.contains("x-api-key") && !client.contains(key),
            "{client}"
        );
    }
}
