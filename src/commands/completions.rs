//! `ampsync completions SHELL`: the shell's completion script, generated from the clap
//! definition in `cli`, so it offers exactly the commands, flags and values (`--operations
//! changed|all|off`) this binary has. It reads no configuration and no database.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes `shell`'s completion script to standard output.
pub fn write(shell: Shell) -> Result<()> {
    // clap_complete panics when a write fails (a closed pipe, a full disk): it writes to
    // memory, and the one write that can fail is this module's, as an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ampsync", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .context("writing the completion script to standard output")
}
