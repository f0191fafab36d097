//! How a failure reaches the person who ran the command: one message with its causes,
//! and the exit code PRODUCT.md promises.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::export::ExportError;
use crate::runs::LockBusy;

/// 0: success.
pub const OK: u8 = 0;
/// 1: the run failed; nothing was half-applied.
pub const RUN_FAILED: u8 = 1;
/// 2: usage or configuration error.
pub const USAGE: u8 = 2;
/// 75 (EX_TEMPFAIL): another run holds this project's lock; retry later.
pub const LOCK_BUSY: u8 = 75;

/// The error and its causes on one line: `what failed: because: because`.
pub fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    crate::scrub::scrub_text(&text)
}

/// The exit code for an error.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.chain().any(|e| e.is::<LockBusy>()) {
        LOCK_BUSY
    } else if error.chain().any(|e| e.is::<ConfigError>()) {
        USAGE
    } else if let Some(e) = error.chain().find_map(|e| e.downcast_ref::<ExportError>()) {
        e.exit_code()
    } else {
        RUN_FAILED
    }
}

/// The worst of several runs' exit codes: a failure outranks a busy lock.
pub fn worst(codes: impl IntoIterator<Item = u8>) -> ExitCode {
    let codes: Vec<u8> = codes.into_iter().collect();
    let code = [RUN_FAILED, USAGE, LOCK_BUSY]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(OK);
    ExitCode::from(code)
}
