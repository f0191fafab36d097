//! The `ampsync` binary: everything lives in the library; see `commands`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // A test build's failpoints, set by FAILPOINTS (see `ampsync::failpoints`).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    ampsync::commands::main()
}
