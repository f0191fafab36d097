//! `ampsync completions` and `ampsync man`: generated from the command line's definition,
//! accepted by the shells and by groff, and working with no database to reach.
//!
//! Every run here has only a `DATABASE_URL` that nothing listens at: a command that
//! tried to migrate or connect would fail.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::{closed_port, Run};

/// Every command a user can type (clap's own `help` aside).
const COMMANDS: [&str; 9] = [
    "migrate",
    "sync",
    "check",
    "import",
    "status",
    "prune",
    "export",
    "completions",
    "man",
];

/// `ampsync ARGS` with nothing configured but a database nobody listens at.
fn ampsync(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ampsync"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port()),
        )
        .stdin(Stdio::null())
        .output()
        .expect("the ampsync binary starts");
    Run(output)
}

/// Whether `program` is installed here; when not, the check that needs it is skipped,
/// and says so on stderr.
fn installed(program: &str) -> bool {
    match Command::new(program).arg("--version").output() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: {program} is not installed, so its checks did not run");
            false
        }
        Err(e) => panic!("{program}: {e}"),
    }
}

/// `program ARGS`, which must start.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The completion script for `shell`, written to a file in `dir`.
fn script(shell: &str, dir: &Path) -> (String, String) {
    let run = ampsync(&["completions", shell]).success();
    assert_eq!(run.stderr(), "", "{shell}: nothing on stderr");
    let path = dir.join(format!("ampsync.{shell}"));
    std::fs::write(&path, run.stdout()).unwrap();
    (run.stdout(), path.to_str().unwrap().to_owned())
}

/// What bash offers after typing `line` and pressing Tab (the last word is completed).
fn bash_completes(script: &str, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let program = format!(
        "source '{script}'\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _ampsync ampsync '{current}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let out = run("bash", &["-c", &program]);
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_bash_completion_is_valid_bash_and_completes_commands_flags_and_their_values() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = script("bash", dir.path());

    // Act
    let syntax = run("bash", &["-n", &path]);
    let commands = bash_completes(&path, "ampsync ");
    let flags = bash_completes(&path, "ampsync sync --oper");
    let operations = bash_completes(&path, "ampsync sync --operations ");
    let formats = bash_completes(&path, "ampsync status --format ");
    let shells = bash_completes(&path, "ampsync completions ");

    // Assert
    assert!(syntax.status.success(), "bash -n: {}", text(&syntax.stderr));
    for command in COMMANDS {
        assert!(
            commands.iter().any(|c| c == command),
            "{command}: {commands:?}"
        );
    }
    assert!(flags.iter().any(|f| f == "--operations"), "{flags:?}");
    assert!(flags.iter().any(|f| f == "--operation-logs"), "{flags:?}");
    assert_eq!(operations, ["changed", "all", "off"]);
    assert_eq!(formats, ["text", "json", "openmetrics"]);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(shells.iter().any(|s| s == shell), "{shell}: {shells:?}");
    }
}

#[test]
fn the_zsh_and_fish_completions_name_every_command_and_pass_their_shells_checks() {
    let dir = tempfile::tempdir().unwrap();
    // Each shell's own parse, which does not run the script.
    for (shell, parse_only) in [("zsh", "-n"), ("fish", "--no-execute")] {
        // Arrange
        let (script, path) = script(shell, dir.path());

        // Act
        let syntax = installed(shell).then(|| run(shell, &[parse_only, &path]));

        // Assert
        for command in COMMANDS {
            assert!(script.contains(command), "{shell}: {command}");
        }
        assert!(script.contains("openmetrics"), "{shell}: --format values");
        if let Some(syntax) = syntax {
            assert!(syntax.status.success(), "{shell}: {}", text(&syntax.stderr));
        }
    }
    // fish completes a command line on request: the values it offers are the CLI's.
    let (_, path) = script("fish", dir.path());
    let offered = installed("fish").then(|| {
        run(
            "fish",
            &[
                "--no-config",
                "-c",
                &format!("source '{path}'; complete -C 'ampsync sync --operations '"),
            ],
        )
    });
    if let Some(offered) = offered {
        assert!(offered.status.success(), "{}", text(&offered.stderr));
        let mut values: Vec<String> = text(&offered.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_owned())
            .collect();
        values.sort();
        assert_eq!(values, ["all", "changed", "off"]);
    }
}

#[test]
fn elvish_and_powershell_completions_are_written_too() {
    for shell in ["elvish", "powershell"] {
        let run = ampsync(&["completions", shell]).success();
        for command in COMMANDS {
            assert!(run.stdout().contains(command), "{shell}: {command}");
        }
    }
}

#[test]
fn completions_and_man_pages_need_no_database_and_a_bad_shell_is_a_usage_error() {
    // Act: DATABASE_URL names a port nothing listens at.
    let completions = ampsync(&["completions", "bash"]);
    let man = ampsync(&["man"]);
    let unknown = ampsync(&["completions", "tcsh"]);

    // Assert: had either tried to migrate or connect, it would have failed (exit 1).
    assert_eq!(completions.code(), 0, "{}", completions.stderr());
    assert_eq!(completions.stderr(), "");
    assert_eq!(man.code(), 0, "{}", man.stderr());
    assert_eq!(man.stderr(), "");
    assert_eq!(unknown.code(), 2);
    assert!(
        unknown
            .stderr()
            .contains("possible values: bash, elvish, fish, powershell, zsh"),
        "{}",
        unknown.stderr()
    );
}

#[test]
fn the_man_pages_document_every_command_with_its_options_exit_codes_and_environment() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");

    // Act
    let written = ampsync(&["man", "--dir", pages.to_str().unwrap()]).success();
    let top = ampsync(&["man"]).success();

    // Assert: one page per command, and the top page as `man` prints it.
    assert_eq!(written.stdout(), "");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("ampsync-{c}.1"))
        .chain(["ampsync.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let read = |name: &str| std::fs::read_to_string(pages.join(name)).unwrap();
    assert_eq!(top.stdout(), read("ampsync.1"));
    // roff writes a flag's dashes as `\-`.
    let top = read("ampsync.1");
    for command in COMMANDS {
        assert!(
            top.contains(&format!("ampsync\\-{command}(1)")),
            "{command}"
        );
    }
    for text in [
        "\\-\\-database\\-url",
        "DATABASE_URL",
        "EXIT STATUS",
        "75",
        "AMPERSAND_API_KEY_FILE",
        "0.4.0",
    ] {
        assert!(top.contains(text), "ampsync.1 lacks {text}");
    }
    let sync = read("ampsync-sync.1");
    for text in [
        "\\-\\-project",
        "\\-\\-dry\\-run",
        "\\-\\-operations",
        "AMPSYNC_OPERATIONS",
        "changed",
        "\\-\\-database\\-url",
    ] {
        assert!(sync.contains(text), "ampsync-sync.1 lacks {text}");
    }
    // Each page's examples are its `--help` examples, one command line per line.
    assert!(sync.contains(".SH EXAMPLES"));
    assert!(sync.contains(
        "ampsync sync \\-\\-project acme \\-\\-group\\-ref grp\\-initech \\-\\-dry\\-run\n"
    ));
    assert!(read("ampsync-status.1").contains("openmetrics"));
}

#[test]
fn the_man_pages_render_without_a_warning_from_groff_and_man() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    ampsync(&["man", "--dir", dir.path().to_str().unwrap()]).success();
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();

    let (groff, man) = (installed("groff"), installed("man"));

    for page in &pages {
        let page = page.to_str().unwrap();
        // Act: every warning on; -k reads the help text's UTF-8 (`×`).
        let groff = groff.then(|| run("groff", &["-k", "-man", "-Tutf8", "-z", "-ww", page]));
        let man = man.then(|| run("man", &["--warnings", "-l", page]));

        // Assert
        if let Some(groff) = groff {
            assert!(groff.status.success(), "{page}: {}", text(&groff.stderr));
            assert_eq!(text(&groff.stderr), "", "{page}");
        }
        if let Some(man) = man {
            assert!(man.status.success(), "{page}: {}", text(&man.stderr));
            assert_eq!(text(&man.stderr), "", "{page}");
            assert!(text(&man.stdout).contains("SYNOPSIS"), "{page}");
        }
    }
    if man {
        let top = run(
            "man",
            &["-l", dir.path().join("ampsync.1").to_str().unwrap()],
        );
        let rendered = text(&top.stdout);
        assert!(rendered.contains("--database-url"), "{rendered}");
        assert!(rendered.contains("ampsync-sync(1)"), "{rendered}");
    }
}

#[test]
fn man_says_which_directory_it_could_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let inside = file.join("man1");

    let run = ampsync(&["man", "--dir", inside.to_str().unwrap()]);

    assert_eq!(run.code(), 1);
    assert!(
        run.stderr()
            .contains(&format!("creating the directory {}", inside.display())),
        "{}",
        run.stderr()
    );
}
