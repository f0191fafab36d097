//! The HTTP client of the OTLP exporters: reqwest's blocking client (the exporters run
//! on threads of their own, not on the runtime), with each request bounded in time, and
//! the first failure of its signal kept for one warning at the end.
//!
//! The failure is described in words of ampsync's own: never the endpoint (a URL may
//! carry credentials) nor a header (`OTEL_EXPORTER_OTLP_HEADERS` often holds an API
//! key), and through the secret filter all the same. The exporters' own error texts
//! quote the URL, so they are never logged.

use std::error::Error as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};

/// A client for one signal (traces or metrics). Clones share the connection pool.
#[derive(Clone)]
pub(super) struct ExportClient {
    client: reqwest::blocking::Client,
    timeout: Duration,
    failure: Arc<Mutex<Option<String>>>,
    /// Requests sent and not answered yet.
    waiting: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ExportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an export failed, in the words [`describe`] chose.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ExportFailed(String);

impl ExportClient {
    /// A client whose requests give up after `timeout`. Built outside the runtime:
    /// reqwest's blocking client starts one of its own.
    pub(super) fn new(client: &reqwest::blocking::Client, timeout: Duration) -> ExportClient {
        ExportClient {
            client: client.clone(),
            timeout,
            failure: Arc::default(),
            waiting: Arc::default(),
        }
    }

    /// The first failure since the start, if any; a request still waiting for its
    /// answer (when the flush gave up on it) counts as one.
    pub(super) fn failure(&self) -> Option<String> {
        let failure = self.failure.lock().ok().and_then(|f| f.clone());
        failure.or_else(|| {
            (self.waiting.load(Ordering::SeqCst) > 0).then(|| {
                format!(
                    "the collector did not answer within {}",
                    humantime::format_duration(super::FLUSH_BOUND.min(self.timeout))
                )
            })
        })
    }

    fn fail(&self, reason: String) -> String {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert_with(|| reason.clone());
        }
        reason
    }

    fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, String> {
        let mut request = reqwest::blocking::Request::try_from(request)
            .map_err(|e| self.fail(describe(e, self.timeout)))?;
        *request.timeout_mut() = Some(self.timeout);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let response = self.client.execute(request);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let response = response.map_err(|e| self.fail(describe(e, self.timeout)))?;
        let status = response.status();
        if !status.is_success() {
            // The body is not quoted: a collector may echo the request's headers.
            self.fail(format!("the collector answered HTTP {status}"));
        }
        let body = response
            .bytes()
            .map_err(|e| self.fail(describe(e, self.timeout)))?;
        http::Response::builder()
            .status(status)
            .body(body)
            .map_err(|e| self.fail(crate::scrub::scrub_text(&e.to_string())))
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        self.send(request)
            .map_err(|reason| Box::new(ExportFailed(reason)) as HttpError)
    }
}

/// A request's error without its URL: what went wrong, then its causes (`connection
/// refused`), scrubbed.
fn describe(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!(
            "the collector did not answer within {}",
            humantime::format_duration(timeout)
        );
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    crate::scrub::scrub_text(&text)
}
