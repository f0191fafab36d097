//! The suite's Python (`AMPSYNC_TEST_PYTHON`, the virtual environment `scripts/test`
//! makes from `tests/requirements.txt`), for the reference parsers and decoders the
//! tests check ampsync's output with: `tests/parse_metrics.py` (prometheus_client),
//! `tests/otlp_to_json.py` (opentelemetry-proto).

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `tests/<script>` with `input` on its stdin; its output, whatever its exit status.
pub fn run_python(script: &str, input: &[u8]) -> Output {
    let python = super::app::test_python();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let mut child = Command::new(python)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test Python runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
