//! The `ampsync` binary: everything lives in the library; see `cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ampsync::cli::main()
}
