//! The `tmpdir` check: a run spills its snapshot to anonymous files in TMPDIR
//! (`snapshot::spill`), about 0.84 × the installations response, so TMPDIR must be
//! writable and hold at least what the last run of each project took
//! (`sync_runs.temp_bytes`).

use std::path::Path;

use bytesize::ByteSize;
use sqlx::PgConnection;

use super::Check;

/// Test seam: when set, the free bytes TMPDIR is taken to have, instead of asking the
/// file system. Read only by `check`, so that a test can stand for a full disk (a tiny
/// tmpfs cannot be mounted where the tests run). Not a setting: undocumented on purpose.
const FREE_BYTES_SEAM: &str = "AMPSYNC_CHECK_FREE_BYTES";

/// Below this many times the last run's temporary files, the check warns: projects
/// grow, and a run takes its room all at once.
const HEADROOM: f64 = 1.5;

/// The largest temporary files a project's latest run took.
pub struct LastRun {
    pub project: String,
    pub run_id: i64,
    pub temp_bytes: u64,
}

/// Of the projects' latest whole-project runs, the one whose temporary files were the
/// largest (runs of several projects go one after the other, each freeing its own). An
/// error is the reason it could not be read.
pub async fn largest_last_run(
    conn: &mut PgConnection,
    projects: &[String],
) -> Result<Option<LastRun>, String> {
    let recorded: bool =
        sqlx::query_scalar(include_str!("../../../sql/check/temp_bytes_recorded.sql"))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
    if !recorded {
        return Ok(None);
    }
    let mut largest: Option<LastRun> = None;
    for project in projects {
        let last = crate::run::ledger::last_temp_bytes(conn, project)
            .await
            .map_err(|e| e.to_string())?;
        if let Some((run_id, bytes)) = last {
            let temp_bytes = u64::try_from(bytes).unwrap_or(0);
            if largest.as_ref().is_none_or(|l| temp_bytes > l.temp_bytes) {
                largest = Some(LastRun {
                    project: project.clone(),
                    run_id,
                    temp_bytes,
                });
            }
        }
    }
    Ok(largest)
}

/// TMPDIR takes a file, and has room for the largest last run's temporary files.
pub fn check(last: Result<Option<LastRun>, String>) -> Check {
    const NAME: &str = "tmpdir";
    let dir = std::env::temp_dir();
    let shown = dir.display().to_string();
    let elsewhere = "point TMPDIR at a directory with room (on Kubernetes, an emptyDir volume at /tmp with a sizeLimit)";
    if let Err(e) = writable(&dir) {
        return Check::failed(
            NAME,
            format!("TMPDIR {shown} does not take a file: {e}"),
            format!("make {shown} writable for this user, or {elsewhere}"),
        );
    }
    let free = match free_bytes(&dir) {
        Ok(free) => free,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("TMPDIR {shown} is writable; its free space could not be read: {e}"),
                "make sure it has room for about 0.84 times the installations response",
            )
        }
    };
    let free_text = format!("TMPDIR {shown} is writable, {} free", ByteSize(free));
    match last {
        Err(e) => Check::warn(
            NAME,
            format!("{free_text}; the last run's temporary files could not be read: {e}"),
            "make sure it has room for about 0.84 times the installations response",
        ),
        Ok(None) => Check::ok(
            NAME,
            format!("{free_text}; no run has recorded its temporary files yet (they take about 0.84 times the installations response)"),
        ),
        Ok(Some(last)) => {
            let needed = format!(
                "the last run of project {} (run {}) took {} of temporary files",
                last.project,
                last.run_id,
                ByteSize(last.temp_bytes)
            );
            let free_up = format!("free space in {shown}, or {elsewhere}");
            if free < last.temp_bytes {
                Check::failed(NAME, format!("{free_text}, but {needed}"), free_up)
            } else if (free as f64) < last.temp_bytes as f64 * HEADROOM {
                Check::warn(
                    NAME,
                    format!("{free_text}, less than {HEADROOM} times what {needed}"),
                    free_up,
                )
            } else {
                Check::ok(NAME, format!("{free_text}; {needed}"))
            }
        }
    }
}

/// Creates a file in `dir` as a run's spill does (anonymous, gone when closed), and
/// writes to it.
fn writable(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = tempfile::tempfile_in(dir)?;
    file.write_all(b"ampsync check")?;
    file.flush()
}

/// The bytes an unprivileged process may still write to the file system of `dir`, or
/// what the test seam says.
fn free_bytes(dir: &Path) -> Result<u64, String> {
    match std::env::var(FREE_BYTES_SEAM) {
        Ok(faked) => faked
            .parse()
            .map_err(|e| format!("{FREE_BYTES_SEAM} `{faked}`: {e}")),
        Err(_) => fs4::available_space(dir).map_err(|e| e.to_string()),
    }
}
