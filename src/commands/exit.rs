//! The exit codes PRODUCT.md promises, and which one an error ends in. Decided here,
//! where commands are dispatched, because only here are all the commands' error types
//! known (a busy lock from the ledger, a usage error from the configuration or the
//! export).

use std::process::ExitCode;

use super::export::ExportError;
use crate::config::ConfigError;
use crate::run::ledger::LockBusy;

/// 0: success.
pub const OK: u8 = 0;
/// 1: the run failed; nothing was half-applied.
pub const RUN_FAILED: u8 = 1;
/// 2: usage or configuration error.
pub const USAGE: u8 = 2;
/// 75 (EX_TEMPFAIL): another run holds this project's lock; retry later.
pub const LOCK_BUSY: u8 = 75;

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
