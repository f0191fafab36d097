//! An OpenTelemetry collector for the tests: an OTLP/HTTP receiver that keeps what it
//! is sent (`POST /v1/traces`, `/v1/metrics`) and decodes it with the reference message
//! classes (`tests/otlp_to_json.py`, with the Python `scripts/test` prepares); and
//! collectors that fail: one that accepts connections and never answers.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use base64::Engine as _;
use serde_json::Value;

/// One request the collector received.
#[derive(Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A collector answering every export with `200` and an empty response (which OTLP
/// reads as full success).
pub struct Collector {
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    pub async fn start() -> Collector {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = received.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body,
                });
                (
                    StatusCode::OK,
                    [("content-type", "application/x-protobuf")],
                    Bytes::new(),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Collector { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every export request received on `path`, decoded to JSON (the `.proto` field
    /// names; trace and span ids in hex).
    pub fn decoded(&self, path: &str) -> Vec<Value> {
        let bodies: Vec<(String, String)> = self
            .received()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| {
                let body = base64::engine::general_purpose::STANDARD.encode(&r.body);
                (r.path, body)
            })
            .collect();
        decode(&bodies)
    }
}

fn decode(bodies: &[(String, String)]) -> Vec<Value> {
    let out = super::run_python("otlp_to_json.py", &serde_json::to_vec(bodies).unwrap());
    assert!(
        out.status.success(),
        "opentelemetry-proto could not decode the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    decoded.into_iter().map(|d| d["request"].clone()).collect()
}

/// A collector that accepts connections, reads nothing and never answers: the
/// exporter's wait is all that ends a request. Returns its URL.
pub async fn silent_collector() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}
