//! Fetches one project from the Ampersand API: `GET /projects/{p}`,
//! `/projects/{p}/integrations` and `/projects/{p}/installations[?groupRef=]`.
//!
//! Every request has a connect timeout, a stall (read) timeout and an overall timeout;
//! 429, 5xx and connection failures are retried with exponential backoff and full
//! jitter, honouring `Retry-After`, within a budget of attempts and of total time.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::error::{ApiError, Attempts};
use super::model::{Problem, Project};
use super::stream::{read_array, ElementSink, StreamError};

/// How hard to try before giving up on a request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No retry starts after this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// The first backoff; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(300),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Everything the client needs; built from the command line and environment.
pub struct ApiSettings {
    pub base_url: Url,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    /// A read that waits longer than this for the next bytes fails (a stalled response).
    pub stall_timeout: Duration,
    /// The whole request, body included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

pub struct ApiClient {
    http: reqwest::Client,
    base_url: Url,
    retry: RetryPolicy,
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

impl ApiClient {
    pub fn new(settings: ApiSettings) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        // A key that is not a valid header value fails at the first request instead.
        if let Ok(mut key) = HeaderValue::from_str(settings.api_key.expose_secret()) {
            key.set_sensitive(true);
            headers.insert("X-Api-Key", key);
        }
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("ampsync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.stall_timeout)
            .timeout(settings.request_timeout)
            .build()?;
        let mut base_url = settings.base_url;
        if !base_url.path().ends_with('/') {
            base_url.set_path(&format!("{}/", base_url.path()));
        }
        Ok(ApiClient {
            http,
            base_url,
            retry: settings.retry,
        })
    }

    /// `GET /projects/{project}`.
    pub async fn project(&self, project: &str) -> Result<Project, ApiError> {
        let endpoint = self.endpoint(project, &[], None);
        let body = self
            .fetch(project, &endpoint, |resp| async move {
                resp.bytes().await.map_err(describe)
            })
            .await?;
        serde_json::from_slice(&body).map_err(|e| body_error(project, &endpoint, &e))
    }

    /// `GET /projects/{project}/integrations`, as raw elements: reading them into
    /// integrations is `normalize`'s job, so one bad element does not fail the rest.
    pub async fn integrations(&self, project: &str) -> Result<Vec<Value>, ApiError> {
        let endpoint = self.endpoint(project, &["integrations"], None);
        let body = self
            .fetch(project, &endpoint, |resp| async move {
                resp.bytes().await.map_err(describe)
            })
            .await?;
        serde_json::from_slice(&body).map_err(|e| body_error(project, &endpoint, &e))
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
        let mut started = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let begun = *started.get_or_insert_with(Instant::now);
            let failure = match self.send(project, &endpoint).await {
                Ok(resp) => match read_array(resp.bytes_stream(), new_sink()).await {
                    Ok(done) => return Ok(done),
                    Err(StreamError::Interrupted(reason)) => Failure::Retry {
                        reason,
                        status: None,
                        detail: String::new(),
                        wait: None,
                    },
                    Err(StreamError::Invalid(reason)) => Failure::Fatal(ApiError::Body {
                        project: project.into(),
                        endpoint: endpoint.clone(),
                        reason,
                    }),
                },
                Err(failure) => failure,
            };
            self.after_failure(project, &endpoint, failure, attempt, begun)
                .await?;
        }
    }

    /// Sends a GET and reads its body with `read`, retrying as the policy allows.
    async fn fetch<T, F, Fut>(&self, project: &str, endpoint: &str, read: F) -> Result<T, ApiError>
    where
        F: Fn(Response) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.send(project, endpoint).await {
                Ok(resp) => match read(resp).await {
                    Ok(body) => return Ok(body),
                    Err(reason) => Failure::Retry {
                        reason,
                        status: None,
                        detail: String::new(),
                        wait: None,
                    },
                },
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
            Err(e) => {
                return Err(Failure::Retry {
                    reason: describe(e),
                    status: None,
                    detail: String::new(),
                    wait: None,
                })
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let wait = retry_after(resp.headers());
        let detail = problem_detail(resp).await;
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
        // The server's Retry-After is honoured as given; the time budget bounds it.
        let backoff = wait.unwrap_or_else(|| self.backoff(attempt));
        let elapsed = started.elapsed();
        if attempt >= self.retry.max_attempts || elapsed + backoff > self.retry.max_elapsed {
            let attempts = Attempts {
                count: attempt,
                elapsed,
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
        tracing::warn!(
            project, endpoint, attempt, reason = %reason, detail = %detail.trim_start_matches(": "),
            retry_in_ms = backoff.as_millis() as u64, "request failed; retrying"
        );
        tokio::time::sleep(backoff).await;
        Ok(())
    }

    /// Exponential backoff with full jitter: a random wait up to base × 2^(attempt-1).
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .retry
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.retry.max_delay);
        ceiling.mul_f64(fastrand::f64())
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

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// ": title: detail" from a problem document; nothing from a body that is not one, so
/// an HTML page from a proxy is never echoed.
async fn problem_detail(resp: Response) -> String {
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if !is_json {
        return String::new();
    }
    let problem: Problem = match resp.bytes().await.map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(problem)) => problem,
        _ => return String::new(),
    };
    let parts: Vec<String> = [problem.title, problem.detail]
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

fn body_error(project: &str, endpoint: &str, e: &serde_json::Error) -> ApiError {
    ApiError::Body {
        project: project.into(),
        endpoint: endpoint.into(),
        reason: e.to_string(),
    }
}
