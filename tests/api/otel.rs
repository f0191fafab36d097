//! OpenTelemetry: with an OTLP endpoint configured, a run exports the gauges of
//! `status --format openmetrics` (same names, labels and values) and a trace with one
//! span per phase under the run's span, with ampsync's resource attributes and those of
//! `OTEL_RESOURCE_ATTRIBUTES`. The export is decoded by the reference message classes
//! (`opentelemetry-proto`). A collector that cannot be reached or never answers costs a
//! warning, never the run; the exporter's credentials never reach the output.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::fixtures::PROJECT_ID;
use crate::helpers::{
    closed_port, exited_within, silent_collector, spawn_app, start_held_sync_env, Collector, Gate,
    FINISHES,
};
use crate::status::parse_metrics;

/// An API key for the collector, as a vendor would issue one (in `OTEL_EXPORTER_OTLP_HEADERS`).
const COLLECTOR_KEY: &str = "hcaik_01jd8x4q7w2m9t5v3b6n8r1p0k4s7y2e5u9i3o6l8z1c4f7g0h2j5";

/// A password in the endpoint's URL.
const ENDPOINT_PASSWORD: &str = "Xq7-endpoint-pa55word-91c";

/// The value of attribute `key` in an OTLP attribute list, as a string.
fn attribute(attributes: &Value, key: &str) -> Option<String> {
    attributes.as_array()?.iter().find_map(|a| {
        (a["key"] == key).then(|| {
            let value = &a["value"];
            value["string_value"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string())
        })
    })
}

/// The gauges' data points, as `parse_metrics` gives an exposition's samples: name,
/// labels (a JSON object) and value.
fn data_points(requests: &[Value]) -> Vec<(String, Value, f64)> {
    let mut points = Vec::new();
    for request in requests {
        for resource in request["resource_metrics"].as_array().unwrap() {
            for scope in resource["scope_metrics"].as_array().unwrap() {
                for metric in scope["metrics"].as_array().unwrap() {
                    let name = metric["name"].as_str().unwrap();
                    assert!(
                        metric["gauge"].is_object(),
                        "{name} is not a gauge: {metric}"
                    );
                    for point in metric["gauge"]["data_points"].as_array().unwrap() {
                        let labels: serde_json::Map<String, Value> = point["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|a| {
                                let key = a["key"].as_str().unwrap().to_owned();
                                (key, a["value"]["string_value"].clone())
                            })
                            .collect();
                        let value = point["as_double"].as_f64().unwrap();
                        points.push((name.to_owned(), Value::Object(labels), value));
                    }
                }
            }
        }
    }
    points
}

/// Samples in one order, to compare two lists of them.
fn sorted(mut samples: Vec<(String, Value, f64)>) -> Vec<(String, String, f64)> {
    samples.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    samples
        .into_iter()
        .map(|(n, l, v)| (n, l.to_string(), v))
        .collect()
}

/// Every span of the trace requests, each with its resource's attributes.
fn spans(requests: &[Value]) -> Vec<Value> {
    let mut spans = Vec::new();
    for request in requests {
        for resource in request["resource_spans"].as_array().unwrap() {
            for scope in resource["scope_spans"].as_array().unwrap() {
                spans.extend(scope["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    spans
}

/// The resource attributes of every request.
fn resources(requests: &[Value], field: &str) -> Vec<Value> {
    requests
        .iter()
        .flat_map(|r| r[field].as_array().unwrap().clone())
        .map(|r| r["resource"]["attributes"].clone())
        .collect()
}

/// The root span (no parent) and the names of its children, oldest first; fails
/// unless every span belongs to one trace and is the root or its child.
fn span_tree(spans: &[Value]) -> (Value, Vec<String>) {
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parent_span_id"].as_str().unwrap_or("").is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "one root span: {spans:#?}");
    let root = roots[0].clone();
    let mut children: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parent_span_id"] == root["span_id"])
        .collect();
    assert_eq!(
        children.len() + 1,
        spans.len(),
        "every span is the root or its child: {spans:#?}"
    );
    for span in spans {
        assert_eq!(span["trace_id"], root["trace_id"], "one trace: {spans:#?}");
    }
    children.sort_by_key(|s| {
        s["start_time_unix_nano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    for child in &children {
        assert_ne!(
            child["status"]["code"], "STATUS_CODE_ERROR",
            "the phase did not fail: {child}"
        );
    }
    let names = children
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    (root, names)
}

fn assert_ampsync_resource(attributes: &Value) {
    assert_eq!(
        attribute(attributes, "service.name").as_deref(),
        Some("ampsync"),
        "{attributes}"
    );
    assert_eq!(
        attribute(attributes, "service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION")),
        "{attributes}"
    );
    assert_eq!(
        attribute(attributes, "deployment.environment.name").as_deref(),
        Some("ci"),
        "{attributes}"
    );
    assert_eq!(
        attribute(attributes, "team").as_deref(),
        Some("data"),
        "{attributes}"
    );
}

#[tokio::test]
async fn a_sync_exports_the_openmetrics_gauges_and_a_trace_of_its_phases_over_otlp() {
    // Arrange
    let app = spawn_app().await;
    let collector = Collector::start().await;
    let headers = format!("x-api-key={COLLECTOR_KEY}");

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
                ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment.name=ci,team=data",
                ),
            ],
        )
        .await
        .success();

    // Assert: the gauges are those `status --format openmetrics` prints, value for value.
    let metrics = collector.decoded("/v1/metrics");
    assert!(
        !metrics.is_empty(),
        "no metrics were exported: {}",
        run.stderr()
    );
    let exported = data_points(&metrics);
    let printed = parse_metrics(
        &app.ampsync(&["status", "--format", "openmetrics"])
            .await
            .stdout(),
    );
    assert_eq!(sorted(exported.clone()), sorted(printed));
    let names: BTreeSet<&str> = exported.iter().map(|(n, _, _)| n.as_str()).collect();
    let defined: BTreeSet<&str> = ampsync::commands::metrics::METRICS
        .iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, defined);
    let value = |name: &str, labels: Value| {
        let found: Vec<f64> = exported
            .iter()
            .filter(|(n, l, _)| n == name && l == &labels)
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels}: {exported:?}");
        found[0]
    };
    let live = app
        .count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
        .await;
    assert_eq!(live, 30);
    assert_eq!(
        value(
            "ampsync_rows",
            serde_json::json!({"table": "installations", "state": "live"})
        ),
        live as f64
    );
    let inserted = app
        .count("SELECT rows_inserted FROM ampersand.sync_runs")
        .await;
    assert!(inserted >= 30);
    assert_eq!(
        value(
            "ampsync_last_run_rows",
            serde_json::json!({"project": PROJECT_ID, "change": "inserted"})
        ),
        inserted as f64
    );
    assert_eq!(
        value(
            "ampsync_last_run_status",
            serde_json::json!({"project": PROJECT_ID, "status": "succeeded"})
        ),
        1.0
    );

    // The trace: the run's span, and one child per phase in order.
    let traces = collector.decoded("/v1/traces");
    let (root, phases) = span_tree(&spans(&traces));
    assert_eq!(root["name"], "sync");
    assert_eq!(
        attribute(&root["attributes"], "project").as_deref(),
        Some(PROJECT_ID)
    );
    assert_eq!(phases, ["fetch", "plan", "write", "record", "operations"]);

    // Both signals carry ampsync's resource and OTEL_RESOURCE_ATTRIBUTES'.
    for attributes in resources(&traces, "resource_spans")
        .iter()
        .chain(&resources(&metrics, "resource_metrics"))
    {
        assert_ampsync_resource(attributes);
    }
    // OTEL_EXPORTER_OTLP_HEADERS reached the collector, and nothing else.
    for received in collector.received() {
        assert_eq!(received.headers["x-api-key"], COLLECTOR_KEY);
    }
    for output in [run.stdout(), run.stderr()] {
        assert!(!output.contains(COLLECTOR_KEY), "{output}");
    }
}

#[tokio::test]
async fn an_import_exports_a_trace_whose_phases_start_with_reading_the_file() {
    // Arrange
    let app = spawn_app().await;
    let collector = Collector::start().await;
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/installations-2026-11-01.json"
    );

    // Act
    app.ampsync_env(
        &[
            "import",
            file,
            "--project",
            "proj-7c1e2a90",
            "--observed-at",
            "2026-11-01T00:00:00Z",
        ],
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{}/v1/traces", collector.url),
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &format!("{}/v1/metrics", collector.url),
            ),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=ci,team=data",
            ),
        ],
    )
    .await
    .success();

    // Assert
    let (root, phases) = span_tree(&spans(&collector.decoded("/v1/traces")));
    assert_eq!(root["name"], "import");
    assert_eq!(phases, ["read", "plan", "write", "record"]);
    let exported = data_points(&collector.decoded("/v1/metrics"));
    let live = app
        .count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
        .await;
    assert!(live > 0);
    assert!(
        exported.contains(&(
            "ampsync_rows".into(),
            serde_json::json!({"table": "installations", "state": "live"}),
            live as f64
        )),
        "{exported:?}"
    );
}

#[tokio::test]
async fn a_collector_that_cannot_be_reached_or_never_answers_costs_a_warning_not_the_run() {
    for (collector, url) in [
        (
            "a closed port",
            format!("http://127.0.0.1:{}", closed_port()),
        ),
        ("a collector that never answers", silent_collector().await),
    ] {
        // Arrange: the endpoint's URL carries a password, its headers a key.
        let app = spawn_app().await;
        let endpoint = url.replace("http://", &format!("http://ampsync:{ENDPOINT_PASSWORD}@"));
        let headers = format!("x-api-key={COLLECTOR_KEY}");

        // Act
        let child = app.spawn(
            &["sync", "--project", PROJECT_ID],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
                // The HTTP stack's own logs too, at their most talkative.
                (
                    "RUST_LOG",
                    "debug,reqwest=trace,hyper=trace,hyper_util=trace",
                ),
            ],
        );
        // Generous: the export's own bound is 5 s (README, OpenTelemetry).
        let run = exited_within(child, Duration::from_secs(90)).await;

        // Assert
        assert_eq!(run.code(), 0, "{collector}: {}", run.stderr());
        let runs = app.runs().await;
        assert_eq!(runs.len(), 1, "{collector}");
        assert_eq!(runs[0].2, "succeeded", "{collector}");
        let warned: BTreeSet<String> = run
            .logged("OpenTelemetry export failed; the run's outcome is not affected")
            .into_iter()
            .inspect(|l| assert_eq!(l["level"], "WARN", "{collector}: {l}"))
            .map(|l| l["signal"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            warned,
            BTreeSet::from(["metrics".to_owned(), "traces".to_owned()]),
            "{collector}: {}",
            run.stderr()
        );
        for output in [run.stdout(), run.stderr()] {
            assert!(!output.contains(COLLECTOR_KEY), "{collector}: {output}");
            assert!(!output.contains(ENDPOINT_PASSWORD), "{collector}: {output}");
        }
    }
}

#[tokio::test]
async fn an_endpoint_that_is_not_a_url_is_a_warning_that_does_not_quote_it() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID],
            &[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("collector:4318/?key={COLLECTOR_KEY}"),
            )],
        )
        .await
        .success();

    // Assert
    let problems: Vec<String> = run
        .logged("OpenTelemetry settings")
        .into_iter()
        .map(|l| l["problem"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        problems,
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT is not an http:// or https:// URL; traces are not exported",
            "OTEL_EXPORTER_OTLP_ENDPOINT is not an http:// or https:// URL; metrics are not exported",
        ],
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(COLLECTOR_KEY), "{}", run.stderr());
}

/// The names of a running process's threads, as `/proc` gives them (15 bytes at most).
fn thread_names(child: &tokio::process::Child) -> Vec<String> {
    let pid = child.id().expect("the child is running");
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[tokio::test]
async fn without_an_endpoint_no_exporter_runs_and_with_one_its_threads_do() {
    let collector = Collector::start().await;
    // The other variables alone turn nothing on.
    let others = [
        ("OTEL_RESOURCE_ATTRIBUTES", "team=data"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k"),
    ];
    let with_endpoint = [
        others[0],
        others[1],
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
    ];
    for (env, exporting) in [(&others[..], false), (&with_endpoint[..], true)] {
        // Arrange: a sync held mid-fetch.
        let app = spawn_app().await;
        let gate = Gate::new();
        let child = start_held_sync_env(&app, &gate, env).await;

        // Act
        let threads = thread_names(&child);
        gate.open();
        let run = exited_within(child, FINISHES).await;

        // Assert: the SDK's batch and reader threads, and the exporters' HTTP client.
        assert_eq!(run.code(), 0, "{}", run.stderr());
        for prefix in ["OpenTelemetry.T", "OpenTelemetry.M", "reqwest-interna"] {
            assert_eq!(
                threads.iter().any(|t| t.starts_with(prefix)),
                exporting,
                "{prefix} with {env:?}: {threads:?}"
            );
        }
        let exported = !collector.received().is_empty();
        assert_eq!(exported, exporting, "{env:?}");
    }
}
