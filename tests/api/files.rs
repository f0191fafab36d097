//! Inputs and outputs that are not plain files: FIFOs with and without a writer or a
//! reader, devices behind `--output`, directories and missing files given to `import`,
//! byte order marks, the modes of the files ampsync creates, and SIGTERM while export
//! writes.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::fixtures::{installations, PROJECT_ID};
use crate::helpers::{eventually, exited_within, signal, spawn_app, TestApp};

/// Generous: a stopped process exits in well under a second.
const EXITS: Duration = Duration::from_secs(30);

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo()
}

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// True when a thread of process `pid` sleeps in a kernel function whose name ends in
/// `wchan` (`wait_for_partner`: opening a FIFO that has no writer, or no reader;
/// `pipe_write`, `anon_pipe_write` on Linux 6.16+: writing to a full pipe).
fn blocked_in(pid: u32, wchan: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("wchan")).is_ok_and(|w| w.trim().ends_with(wchan))
    })
}

async fn wait_until_blocked(child: &tokio::process::Child, wchan: &'static str) {
    let pid = child.id().expect("ampsync runs");
    eventually(&format!("ampsync blocks in {wchan}"), move || async move {
        blocked_in(pid, wchan)
    })
    .await;
}

/// The statuses of every recorded run, oldest first.
async fn statuses(app: &TestApp) -> Vec<String> {
    app.runs().await.into_iter().map(|r| r.2).collect()
}

/// An import of a regular file that must succeed: the project is not left locked.
async fn import_succeeds(app: &TestApp, dir: &Path, observed_at: &str) {
    let file = write_json(dir, "later.json", &installations(0..3));
    app.ampsync(&[
        "import",
        &file,
        "--project",
        PROJECT_ID,
        "--observed-at",
        observed_at,
    ])
    .await
    .success();
}

#[tokio::test]
async fn sigterm_stops_an_import_of_a_fifo_without_a_writer_and_frees_the_project() {
    // Arrange: an import of a FIFO nobody writes to, stuck opening it mid-run.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("dump.json");
    mkfifo(&fifo);
    let child = app.spawn(
        &[
            "import",
            fifo.to_str().unwrap(),
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-01T00:00:00Z",
        ],
        &[],
    );
    let pool = app.pool.clone();
    eventually("the import's run has started", move || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM ampersand.sync_runs WHERE status = 'running'",
            )
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
            n == 1
        }
    })
    .await;
    wait_until_blocked(&child, "wait_for_partner").await;

    // Act
    signal(&child, "TERM");
    let stopped = exited_within(child, EXITS).await;

    // Assert: stopped, the run ended, and the project is free for the next import.
    assert_eq!(stopped.code(), 1, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    assert_eq!(statuses(&app).await, ["failed"]);
    import_succeeds(&app, dir.path(), "2026-11-02T00:00:00Z").await;
    assert_eq!(statuses(&app).await, ["failed", "succeeded"]);
}

#[tokio::test]
async fn sigterm_stops_an_import_whose_project_file_is_a_fifo_without_a_writer() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(dir.path(), "dump.json", &installations(0..3));
    let fifo = dir.path().join("project.json");
    mkfifo(&fifo);
    let child = app.spawn(
        &[
            "import",
            &file,
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-01T00:00:00Z",
            "--project-file",
            fifo.to_str().unwrap(),
        ],
        &[],
    );
    wait_until_blocked(&child, "wait_for_partner").await;

    // Act
    signal(&child, "TERM");
    let stopped = exited_within(child, EXITS).await;

    // Assert: no run was started, none is left running, the next import goes ahead.
    assert_eq!(stopped.code(), 1, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    assert!(statuses(&app).await.is_empty());
    import_succeeds(&app, dir.path(), "2026-11-02T00:00:00Z").await;
    let status = app.ampsync(&["status"]).await;
    assert_eq!(status.code(), 0, "{}", status.stdout());
}

/// Writes `bytes` into the FIFO at `path` from a thread (it blocks until a reader opens it).
fn feed(path: PathBuf, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || std::fs::write(path, bytes).unwrap())
}

#[tokio::test]
async fn an_import_reads_fifos_that_have_a_writer_like_files() {
    // Arrange: `import <(cat dump.json) --project-file <(cat project.json)`, with FIFOs.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (dump, project) = (dir.path().join("dump"), dir.path().join("project"));
    mkfifo(&dump);
    mkfifo(&project);
    let writers = [
        feed(dump.clone(), installations(0..7).to_string().into_bytes()),
        feed(
            project.clone(),
            crate::fixtures::project().to_string().into_bytes(),
        ),
    ];

    // Act
    app.ampsync(&[
        "import",
        dump.to_str().unwrap(),
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-01T00:00:00Z",
        "--project-file",
        project.to_str().unwrap(),
    ])
    .await
    .success();

    // Assert
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        7
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.projects").await,
        1
    );
}

#[tokio::test]
async fn a_directory_or_a_missing_file_given_to_import_is_a_usage_error_that_records_no_run() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(dir.path(), "dump.json", &installations(0..3));
    let folder = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let fifo = dir.path().join("connections");
    mkfifo(&fifo);
    let at = ["--observed-at", "2026-11-01T00:00:00Z"];
    let cases: [(&[&str], &str); 5] = [
        (&[folder, "--observed-at", at[1]], "is a directory"),
        (&[missing, "--observed-at", at[1]], "No such file"),
        (&[&file, "--project-file", folder], "is a directory"),
        (&[&file, "--connections-file", folder], "is a directory"),
        // One FIFO for two snapshots would be read twice: the second read finds it empty.
        (
            &[
                &file,
                &file,
                "--observed-at",
                "2026-11-01T00:00:00Z",
                "--observed-at",
                "2026-11-02T00:00:00Z",
                "--connections-file",
                fifo.to_str().unwrap(),
            ],
            "can be read only once",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["import", "--project", PROJECT_ID];
        all.extend(args);
        if !args.contains(&"--observed-at") {
            all.extend(at);
        }

        let run = app.ampsync(&all).await;

        assert_eq!(run.code(), 2, "{all:?}: {}", run.stderr());
        assert!(run.stderr().contains(says), "{all:?}: {}", run.stderr());
        assert!(statuses(&app).await.is_empty(), "{all:?} left a run row");
    }
}

#[tokio::test]
async fn files_that_start_with_a_utf8_byte_order_mark_import_like_files_without_one() {
    // Arrange: every input as a Windows tool writes it, and the same without the mark.
    let with = spawn_app().await;
    let without = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        ("dump.json", installations(0..5)),
        ("project.json", crate::fixtures::project()),
        ("integrations.json", crate::fixtures::integrations()),
        ("connections.json", Value::Array(vec![])),
    ];
    let mut paths = Vec::new();
    for (name, value) in &inputs {
        let plain = write_json(dir.path(), name, value);
        let marked = dir.path().join(format!("bom-{name}"));
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(serde_json::to_vec(value).unwrap());
        std::fs::write(&marked, bytes).unwrap();
        paths.push((plain, marked.to_str().unwrap().to_owned()));
    }
    let args = |pick: fn(&(String, String)) -> &String| {
        let p: Vec<&String> = paths.iter().map(pick).collect();
        vec![
            "import".to_owned(),
            p[0].clone(),
            "--project".into(),
            PROJECT_ID.into(),
            "--observed-at".into(),
            "2026-11-01T00:00:00Z".into(),
            "--project-file".into(),
            p[1].clone(),
            "--integrations-file".into(),
            p[2].clone(),
            "--connections-file".into(),
            p[3].clone(),
        ]
    };
    let marked = args(|p| &p.1);
    let plain = args(|p| &p.0);

    // Act
    let run = with
        .ampsync(&marked.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    without
        .ampsync(&plain.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .success();

    // Assert
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(with.fingerprint().await, without.fingerprint().await);
    assert_eq!(
        with.count("SELECT count(*) FROM ampersand.installations")
            .await,
        5
    );
}

/// `--output` through a symlink to `/dev/full`: the device is written to (and fails),
/// never replaced. The link is the test's own, so no run, fixed or not, can replace a
/// device of the machine.
#[tokio::test]
async fn export_and_status_to_a_full_device_fail_with_the_write_error_and_leave_the_device() {
    let app = spawn_app().await;
    app.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("full");
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    let link_str = link.to_str().unwrap();

    for args in [
        vec!["export", "--project", PROJECT_ID, "--output", link_str],
        vec!["status", "--format", "openmetrics", "--output", link_str],
    ] {
        let run = app.ampsync(&args).await;

        assert_eq!(run.code(), 1, "{args:?}: {}", run.stderr());
        assert!(
            run.stderr().contains("No space left on device"),
            "{args:?}: {}",
            run.stderr()
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{args:?} replaced the link"
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/dev/full"));
    }
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file is left"
    );
}

/// Reads the FIFO at `path` to its end from a thread.
fn drain(path: PathBuf) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || std::fs::read(path).unwrap())
}

#[tokio::test]
async fn export_and_status_write_into_a_fifo_and_through_a_link_to_stdout_and_leave_them() {
    let app = spawn_app().await;
    app.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let fifo_str = fifo.to_str().unwrap();

    // export into a FIFO: its reader gets the whole array.
    let reader = drain(fifo.clone());
    app.ampsync(&["export", "--project", PROJECT_ID, "--output", fifo_str])
        .await
        .success();
    // Before joining: a FIFO replaced by a file would leave the reader waiting for good.
    assert!(is_fifo(&fifo));
    let exported: Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 30);

    // status (each format) into the FIFO.
    for format in ["text", "json", "openmetrics"] {
        let reader = drain(fifo.clone());
        app.ampsync(&["status", "--format", format, "--output", fifo_str])
            .await
            .success();
        assert!(is_fifo(&fifo));
        let text = String::from_utf8(reader.join().unwrap()).unwrap();
        assert!(text.contains(PROJECT_ID), "{format}: {text}");
    }

    // A link to /dev/stdout: written through to the process's standard output.
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
    let run = app
        .ampsync(&["status", "--output", link.to_str().unwrap()])
        .await
        .success();
    assert!(run.stdout().contains("LAST SUCCESS"), "{}", run.stdout());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/dev/stdout"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file is left"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn new_output_files_honour_the_umask_and_a_replaced_file_keeps_its_mode() {
    let app = spawn_app().await;
    app.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("ampsync.prom");
    let export = dir.path().join("export.json");
    let metrics_args = [
        "status",
        "--format",
        "openmetrics",
        "--output",
        metrics.to_str().unwrap(),
    ];
    let export_args = [
        "export",
        "--project",
        PROJECT_ID,
        "--output",
        export.to_str().unwrap(),
    ];

    // A new file: 0666 less the umask, so node_exporter (another user) can read it.
    app.ampsync_umask(0o022, &metrics_args).await.success();
    assert_eq!(mode(&metrics), 0o644);
    app.ampsync_umask(0o022, &export_args).await.success();
    assert_eq!(mode(&export), 0o644);
    // A private umask gives a private file.
    std::fs::remove_file(&export).unwrap();
    app.ampsync_umask(0o077, &export_args).await.success();
    assert_eq!(mode(&export), 0o600);

    // A file replaced keeps its mode, whatever the umask.
    std::fs::set_permissions(&metrics, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(&metrics, "stale").unwrap();
    app.ampsync_umask(0o077, &metrics_args).await.success();
    assert_eq!(mode(&metrics), 0o640);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("ampsync_last_success_timestamp_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn sigterm_during_an_export_exits_1_and_leaves_the_output_file_as_it_was() {
    // Arrange: an export whose query waits on a lock this test holds.
    let app = spawn_app().await;
    app.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("export.json");
    std::fs::write(&output, "the previous export").unwrap();
    let mut blocker = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("LOCK TABLE ampersand.installations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let child = app.spawn(
        &[
            "export",
            "--project",
            PROJECT_ID,
            "--output",
            output.to_str().unwrap(),
        ],
        &[],
    );
    let (pool, db) = (app.pool.clone(), app.db_name.clone());
    eventually("the export waits on the lock", move || {
        let (pool, db) = (pool.clone(), db.clone());
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ampsync' AND wait_event_type = 'Lock'",
            )
            .bind(db)
            .fetch_one(&pool)
            .await
            .unwrap();
            n > 0
        }
    })
    .await;

    // Act
    signal(&child, "TERM");
    let stopped = exited_within(child, EXITS).await;
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Assert: exit 1 (README: interrupted), the old file untouched, no temporary file.
    assert_eq!(stopped.code(), 1, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "the previous export"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("export.json")]);
}

#[tokio::test]
async fn sigterm_stops_an_export_into_a_fifo_whose_reader_stopped_reading() {
    // Arrange: a reader that opens the FIFO and never reads; the export fills the pipe.
    let app = crate::helpers::spawn_app_with(installations(0..300)).await;
    app.sync().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out");
    mkfifo(&fifo);
    let held = fifo.clone();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let file = std::fs::File::open(held).unwrap();
        opened_tx.send(()).unwrap();
        let _ = done_rx.recv();
        drop(file);
    });
    let child = app.spawn(
        &[
            "export",
            "--project",
            PROJECT_ID,
            "--output",
            fifo.to_str().unwrap(),
        ],
        &[],
    );
    // A bound on the wait, not on the time: a FIFO replaced by a file is never opened.
    opened_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the export opens the FIFO");
    wait_until_blocked(&child, "pipe_write").await;

    // Act
    signal(&child, "TERM");
    let stopped = exited_within(child, EXITS).await;
    done_tx.send(()).unwrap();
    reader.join().unwrap();

    // Assert
    assert_eq!(stopped.code(), 1, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    assert!(is_fifo(&fifo));
}

#[tokio::test]
async fn sigterm_stops_a_sync_whose_key_file_is_a_fifo_without_a_writer() {
    // Arrange: `AMPERSAND_API_KEY_FILE=<(pass show ampersand)` whose writer never writes.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("api-key");
    mkfifo(&fifo);
    let child = app.spawn(
        &["sync", "--project", PROJECT_ID],
        &[
            ("AMPERSAND_API_KEY", ""),
            ("AMPERSAND_API_KEY_FILE", fifo.to_str().unwrap()),
        ],
    );
    wait_until_blocked(&child, "wait_for_partner").await;

    // Act
    signal(&child, "TERM");
    let stopped = exited_within(child, EXITS).await;

    // Assert: stopped before touching anything; a FIFO with a writer works.
    assert_eq!(stopped.code(), 1, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("interrupted by SIGTERM"),
        "{}",
        stopped.stderr()
    );
    let writer = feed(fifo.clone(), crate::helpers::API_KEY.as_bytes().to_vec());
    app.ampsync_env(
        &["sync", "--project", PROJECT_ID],
        &[
            ("AMPERSAND_API_KEY", ""),
            ("AMPERSAND_API_KEY_FILE", fifo.to_str().unwrap()),
        ],
    )
    .await
    .success();
    writer.join().unwrap();
}
