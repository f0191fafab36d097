//! `ampsync man`: the manual pages, generated from the clap definition in `cli` (each
//! command's and flag's `///` help, default and environment variable), so they say what
//! `--help` says. The top page adds what clap does not know: the exit codes and the
//! environment variables that are not a flag. The image build installs the pages in
//! `/usr/share/man/man1` (see the Dockerfile). Reads no configuration and no database.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

use super::exit;
use crate::cli::Cli;

/// Writes ampsync(1) to standard output, or, given `dir`, every page into it: `ampsync.1`
/// and one `ampsync-COMMAND.1` per command.
pub fn write(dir: Option<&Path>) -> Result<()> {
    // `help` is clap's, not a command of ours: no page, and not listed as one. Built
    // here so the commands carry their page names ("ampsync-sync") and the global flags.
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    match dir {
        None => {
            let page = render(&top, true).context("rendering ampsync(1)")?;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&page)
                .and_then(|()| stdout.flush())
                .context("writing ampsync(1) to standard output")
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory {}", dir.display()))?;
            let commands = top.get_subcommands().filter(|c| !c.is_hide_set());
            for (command, is_top) in
                std::iter::once((&top, true)).chain(commands.map(|c| (c, false)))
            {
                let path = dir.join(Man::new(command.clone()).get_filename());
                let page = render(command, is_top)
                    .with_context(|| format!("rendering {}", path.display()))?;
                std::fs::write(&path, page)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
    }
}

/// One page: clap_mangen's sections in man-pages(7) order, the top page with EXIT STATUS
/// and ENVIRONMENT, and the `--help` examples as EXAMPLES, unfilled so that a command
/// line stays one line (clap_mangen would fill them as prose).
fn render(command: &clap::Command, is_top: bool) -> std::io::Result<Vec<u8>> {
    // Every page's footer names the release, not only the top page's.
    let man = Man::new(command.clone()).source(format!("ampsync {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if command.get_subcommands().any(|c| !c.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    if is_top {
        top_sections().to_writer(&mut page)?;
    }
    if let Some(examples) = command.get_after_help() {
        let mut roff = Roff::new();
        roff.control("SH", ["EXAMPLES"]).control("nf", []);
        for line in examples.to_string().lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []).to_writer(&mut page)?;
    }
    if command.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// The exit codes (`commands::exit`) and the variables read outside clap.
fn top_sections() -> Roff {
    let exit_codes = [
        (exit::OK, "Success."),
        (exit::RUN_FAILED, "The run failed; nothing was half-applied (the failed run is recorded in ampersand.sync_runs)."),
        (exit::USAGE, "Usage or configuration error; nothing was touched."),
        (exit::LOCK_BUSY, "Another run holds this project's lock; nothing was written. Retry later, or pass --wait."),
    ];
    let environment = [
        ("AMPERSAND_API_KEY", "The Ampersand API key. Never a flag: flags show in ps(1)."),
        ("AMPERSAND_API_KEY_FILE", "A file holding the API key instead (a Kubernetes Secret mount, or a FIFO such as <(pass show ampersand))."),
        ("RUST_LOG", "The log filter (tracing's EnvFilter syntax); when set it wins over -v and -q."),
        ("TMPDIR", "Where a run keeps a snapshot's rows in temporary files: about 0.85 times the size of the installations response."),
        ("PGHOST, PGPASSWORD, PGSSLMODE, PGSSLROOTCERT, ...", "The PG* environment and the pgpass file (PGPASSFILE, else ~/.pgpass), read as sqlx reads them; DATABASE_URL wins."),
    ];
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in exit_codes {
        roff.control("TP", [])
            .text([bold(code.to_string())])
            .text([roman(meaning)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(
        "Every flag that has an environment variable names it above; flags win over the environment, which wins over the defaults. Also read:",
    )]);
    for (name, meaning) in environment {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(meaning)]);
    }
    roff
}
