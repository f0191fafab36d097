//! The OpenTelemetry export over OTLP/HTTP (protobuf), configured by the standard
//! environment variables and built only when they name an endpoint:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (both signals, `/v1/traces` and `/v1/metrics`
//! appended), or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `_METRICS_ENDPOINT` (one
//! signal, used as given). `OTEL_SDK_DISABLED=true` and `OTEL_TRACES_EXPORTER=none` /
//! `OTEL_METRICS_EXPORTER=none` turn it off; `OTEL_EXPORTER_OTLP_HEADERS`,
//! `_COMPRESSION` and the `OTEL_BSP_*` settings are the SDK's to read;
//! `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` add to the resource
//! (`service.name=ampsync`, `service.version`).
//!
//! Nothing here may fail a run: a setting that cannot be used is a warning, and that
//! signal is not exported.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    ExporterBuildError, MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig,
};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use secrecy::{ExposeSecret, SecretString};

use super::export_client::ExportClient;
use super::Gauge;

/// The longest the export may delay the end of a command: what an unreachable or
/// silent collector costs. Each request gives up after it (or after
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, when shorter), and the flush at exit waits no longer.
pub const FLUSH_BOUND: Duration = Duration::from_secs(5);

/// The one protocol this build speaks.
const HTTP_PROTOBUF: &str = "http/protobuf";

/// The two signals ampsync exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    /// `TRACES`, as the signal's variables spell it.
    fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
}

/// Where and how one signal is sent.
#[derive(Debug)]
struct Target {
    /// Without credentials: reqwest's debug log quotes the URL it connects to.
    endpoint: String,
    /// The `Authorization` header of the URL's `user:password@`, if it had one.
    authorization: Option<SecretString>,
    timeout: Duration,
}

/// Which signals the environment asks for, read by [`target`].
#[derive(Debug, Default)]
struct Settings {
    traces: Option<Target>,
    metrics: Option<Target>,
}

impl Settings {
    fn is_empty(&self) -> bool {
        self.traces.is_none() && self.metrics.is_none()
    }
}

/// The environment as `(name) -> value`, an empty value read as unset (as the
/// OpenTelemetry specification says).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn read(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn settings(env: Env, problems: &mut Vec<String>) -> Settings {
    if read(env, "OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Settings::default();
    }
    Settings {
        traces: target(env, Signal::Traces, problems),
        metrics: target(env, Signal::Metrics, problems),
    }
}

/// Where `signal` goes, if anywhere. Neither variable's value is ever quoted in a
/// problem: an endpoint's URL may carry credentials.
fn target(env: Env, signal: Signal, problems: &mut Vec<String>) -> Option<Target> {
    let exporter = format!("OTEL_{}_EXPORTER", signal.upper());
    if read(env, &exporter).is_some_and(|v| v.trim().eq_ignore_ascii_case("none")) {
        return None;
    }
    let own = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper());
    let (variable, endpoint) = match read(env, &own) {
        Some(endpoint) => (own, endpoint.trim().to_owned()),
        None => {
            let generic = read(env, "OTEL_EXPORTER_OTLP_ENDPOINT")?;
            let base = generic.trim().trim_end_matches('/').to_owned();
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                format!("{base}/v1/{}", signal.name()),
            )
        }
    };
    let url = url::Url::parse(&endpoint)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
    let Some(mut url) = url else {
        problems.push(format!(
            "{variable} is not an http:// or https:// URL; {} are not exported",
            signal.name()
        ));
        return None;
    };
    let authorization = basic_authorization(&mut url);
    let protocol = [
        format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.upper()),
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
    ]
    .into_iter()
    .find_map(|name| read(env, &name).map(|value| (name, value)));
    if let Some((name, value)) = protocol.filter(|(_, v)| v.trim() != HTTP_PROTOBUF) {
        problems.push(format!(
            "{name}={} is not supported; {} are sent as {HTTP_PROTOBUF}",
            crate::scrub::scrub_text(value.trim()),
            signal.name()
        ));
    }
    Some(Target {
        endpoint: url.to_string(),
        authorization,
        timeout: timeout(env, signal, problems),
    })
}

/// Takes the credentials out of `url` (`https://user:password@host/`), as the value of
/// a Basic `Authorization` header.
fn basic_authorization(url: &mut url::Url) -> Option<SecretString> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    // Cannot fail on an http(s) URL, which has a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    Some(SecretString::from(format!("Basic {encoded}")))
}

/// Each request's bound: the signal's `OTEL_EXPORTER_OTLP_*_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), at most [`FLUSH_BOUND`].
fn timeout(env: Env, signal: Signal, problems: &mut Vec<String>) -> Duration {
    let names = [
        format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.upper()),
        "OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(),
    ];
    let Some((name, value)) = names
        .into_iter()
        .find_map(|name| read(env, &name).map(|value| (name, value)))
    else {
        return FLUSH_BOUND;
    };
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Duration::from_millis(ms).min(FLUSH_BOUND),
        _ => {
            problems.push(format!(
                "{name} is not a positive number of milliseconds; {} wait at most {}",
                signal.name(),
                humantime::format_duration(FLUSH_BOUND)
            ));
            FLUSH_BOUND
        }
    }
}

/// The export of one signal: its SDK provider, and its client's first failure.
struct Exporting<P> {
    provider: P,
    client: ExportClient,
}

/// The OpenTelemetry export of this process.
pub(super) struct Otlp {
    traces: Option<Exporting<SdkTracerProvider>>,
    metrics: Option<Exporting<SdkMeterProvider>>,
}

impl Otlp {
    /// The export the environment configures, if any, and what in it could not be
    /// used (warnings for the log).
    pub(super) fn from_env(env: impl Fn(&str) -> Option<String>) -> (Option<Otlp>, Vec<String>) {
        let mut problems = Vec::new();
        let settings = settings(&env, &mut problems);
        if settings.is_empty() {
            return (None, problems);
        }
        // One client (and one connection pool) for both signals. A redirect is not
        // followed: it would carry the headers, API key and all, to another host.
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(FLUSH_BOUND)
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                problems.push(format!(
                    "the HTTP client could not be set up ({}); nothing is exported",
                    crate::scrub::scrub_text(&e.without_url().to_string())
                ));
                return (None, problems);
            }
        };
        let resource = resource(&env);
        let traces = exporting(
            Signal::Traces,
            settings.traces,
            &client,
            &mut problems,
            |t, c| traces(t, c, &resource),
        );
        let metrics = exporting(
            Signal::Metrics,
            settings.metrics,
            &client,
            &mut problems,
            |t, c| metrics(t, c, &resource),
        );
        if traces.is_none() && metrics.is_none() {
            return (None, problems);
        }
        (Some(Otlp { traces, metrics }), problems)
    }

    /// The tracer of the run's spans, when traces are exported.
    pub(super) fn tracer(&self) -> Option<SdkTracer> {
        self.traces
            .as_ref()
            .map(|t| t.provider.tracer_with_scope(scope()))
    }

    pub(super) fn exports_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// Records `gauges`, which the flush at [`Otlp::shutdown`] sends.
    pub(super) fn record(&self, gauges: &[Gauge]) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let meter = metrics.provider.meter_with_scope(scope());
        for gauge in gauges {
            let instrument = meter
                .f64_gauge(gauge.name)
                .with_description(gauge.help)
                .build();
            for sample in &gauge.samples {
                let attributes: Vec<KeyValue> = sample
                    .labels
                    .iter()
                    .map(|(name, value)| KeyValue::new(*name, value.clone()))
                    .collect();
                instrument.record(sample.value, &attributes);
            }
        }
    }

    /// Flushes both signals at once, each waiting at most [`FLUSH_BOUND`] (the meter
    /// provider's own bound is the same 5 s), and returns why each that failed did.
    pub(super) fn shutdown(self) -> Vec<(&'static str, String)> {
        let (traced, measured) = std::thread::scope(|scope| {
            let traced = self
                .traces
                .as_ref()
                .map(|t| scope.spawn(|| t.provider.shutdown_with_timeout(FLUSH_BOUND)));
            let measured = self
                .metrics
                .as_ref()
                .map(|m| scope.spawn(|| m.provider.shutdown()));
            let joined = |handle: std::thread::ScopedJoinHandle<'_, _>| {
                handle.join().unwrap_or_else(|_| {
                    Err(OTelSdkError::InternalFailure("the flush panicked".into()))
                })
            };
            (traced.map(joined), measured.map(joined))
        });
        let mut failures = Vec::new();
        let mut check = |signal: Signal, client: Option<&ExportClient>, result| {
            let Some(client) = client else { return };
            // The SDK's error texts may quote the endpoint's URL: not repeated.
            let reason = client.failure().or_else(|| match result {
                Some(Err(OTelSdkError::AlreadyShutdown)) | Some(Ok(())) | None => None,
                Some(Err(_)) => Some("the exporter reported an error".into()),
            });
            if let Some(reason) = reason {
                failures.push((signal.name(), reason));
            }
        };
        check(
            Signal::Traces,
            self.traces.as_ref().map(|t| &t.client),
            traced,
        );
        check(
            Signal::Metrics,
            self.metrics.as_ref().map(|m| &m.client),
            measured,
        );
        failures
    }
}

impl Target {
    /// An exporter's builder (traces or metrics) set to send here, through `client`.
    fn configure<B: WithHttpConfig + WithExportConfig>(
        &self,
        builder: B,
        client: ExportClient,
    ) -> B {
        builder
            .with_http_client(client)
            .with_headers(self.headers())
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.endpoint.clone())
            .with_timeout(self.timeout)
    }

    /// The headers ampsync adds (`OTEL_EXPORTER_OTLP_HEADERS` are the SDK's to add,
    /// after these).
    fn headers(&self) -> HashMap<String, String> {
        self.authorization
            .iter()
            .map(|value| ("authorization".to_owned(), value.expose_secret().to_owned()))
            .collect()
    }
}

/// The export of `signal` to `target`, if it has one: its provider from `build`, or a
/// problem and none.
fn exporting<P>(
    signal: Signal,
    target: Option<Target>,
    client: &reqwest::blocking::Client,
    problems: &mut Vec<String>,
    build: impl FnOnce(&Target, ExportClient) -> Result<P, ExporterBuildError>,
) -> Option<Exporting<P>> {
    let target = target?;
    let client = ExportClient::new(client, target.timeout);
    match build(&target, client.clone()) {
        Ok(provider) => Some(Exporting { provider, client }),
        Err(e) => {
            problems.push(format!(
                "the {} exporter could not be set up ({}); {} are not exported",
                signal.name(),
                build_error(&e),
                signal.name()
            ));
            None
        }
    }
}

fn traces(
    target: &Target,
    client: ExportClient,
    resource: &Resource,
) -> Result<SdkTracerProvider, ExporterBuildError> {
    let exporter = target.configure(SpanExporter::builder().with_http(), client);
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter.build()?)
        .with_resource(resource.clone())
        .build())
}

fn metrics(
    target: &Target,
    client: ExportClient,
    resource: &Resource,
) -> Result<SdkMeterProvider, ExporterBuildError> {
    let exporter = target.configure(MetricExporter::builder().with_http(), client);
    Ok(SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.build()?)
        .with_resource(resource.clone())
        .build())
}

/// A build error in words that quote no endpoint.
fn build_error(error: &ExporterBuildError) -> String {
    match error {
        ExporterBuildError::InvalidUri(_, reason) => {
            format!("the endpoint is not a valid URI: {reason}")
        }
        other => crate::scrub::scrub_text(&other.to_string()),
    }
}

/// `service.name=ampsync` (unless `OTEL_SERVICE_NAME` says otherwise),
/// `service.version`, the SDK's `telemetry.sdk.*`, then `OTEL_RESOURCE_ATTRIBUTES`,
/// whose values win.
fn resource(env: Env) -> Resource {
    let builder = Resource::builder_empty()
        .with_service_name("ampsync")
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_detector(Box::new(EnvResourceDetector::new()));
    match read(env, "OTEL_SERVICE_NAME") {
        Some(name) => builder.with_service_name(name),
        None => builder,
    }
    .build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("ampsync")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_of(vars: &[(&str, &str)]) -> (Settings, Vec<String>) {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let mut problems = Vec::new();
        let settings = settings(&env, &mut problems);
        (settings, problems)
    }

    fn endpoint(target: &Option<Target>) -> Option<&str> {
        target.as_ref().map(|t| t.endpoint.as_str())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        for vars in [&[][..], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]] {
            let (s, problems) = settings_of(vars);
            assert!(s.is_empty() && problems.is_empty(), "{s:?} {problems:?}");
        }
    }

    #[test]
    fn the_generic_endpoint_gets_each_signals_path_and_a_signals_own_is_used_as_given() {
        let (s, problems) = settings_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]);
        assert!(problems.is_empty());
        assert_eq!(endpoint(&s.traces), Some("http://c:4318/v1/traces"));
        assert_eq!(endpoint(&s.metrics), Some("http://c:4318/v1/metrics"));

        let (s, _) = settings_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "https://m.example/otlp",
            ),
        ]);
        assert_eq!(endpoint(&s.traces), Some("http://c:4318/v1/traces"));
        assert_eq!(endpoint(&s.metrics), Some("https://m.example/otlp"));

        let (s, _) = settings_of(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x")]);
        assert_eq!(endpoint(&s.traces), Some("http://t/x"));
        assert_eq!(endpoint(&s.metrics), None);
    }

    #[test]
    fn credentials_in_the_url_become_a_basic_authorization_header() {
        let (s, _) = settings_of(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://ampsync:p%40ss@c.example:4318",
        )]);
        let traces = s.traces.unwrap();
        assert_eq!(traces.endpoint, "https://c.example:4318/v1/traces");
        // base64("ampsync:p@ss")
        assert_eq!(traces.headers()["authorization"], "Basic YW1wc3luYzpwQHNz");
        assert!(!format!("{traces:?}").contains("YW1wc3luYzpwQHNz"));
        let (s, _) = settings_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        assert!(s.traces.unwrap().headers().is_empty());
    }

    #[test]
    fn disabled_sdk_and_none_exporters_turn_signals_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let (s, _) = settings_of(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]);
        assert!(s.is_empty());
        let (s, _) = settings_of(&[endpoint, ("OTEL_METRICS_EXPORTER", "none")]);
        assert!(s.traces.is_some() && s.metrics.is_none());
    }

    #[test]
    fn a_bad_endpoint_is_a_warning_that_never_quotes_it() {
        let (s, problems) = settings_of(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector.example:4318?key=s3cr3t-value",
        )]);
        assert!(s.is_empty());
        assert_eq!(
            problems,
            [
                "OTEL_EXPORTER_OTLP_ENDPOINT is not an http:// or https:// URL; traces are not exported",
                "OTEL_EXPORTER_OTLP_ENDPOINT is not an http:// or https:// URL; metrics are not exported",
            ]
        );
    }

    #[test]
    fn timeouts_are_read_in_milliseconds_and_capped_at_the_flush_bound() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let (s, _) = settings_of(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
        ]);
        assert_eq!(s.traces.unwrap().timeout, Duration::from_millis(1500));
        assert_eq!(s.metrics.unwrap().timeout, FLUSH_BOUND);
        let (s, problems) = settings_of(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s")]);
        assert_eq!(s.traces.unwrap().timeout, FLUSH_BOUND);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn another_protocol_is_a_warning() {
        let (s, problems) = settings_of(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert!(s.traces.is_some());
        assert_eq!(
            problems,
            ["OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; traces are sent as http/protobuf"]
        );
    }
}
