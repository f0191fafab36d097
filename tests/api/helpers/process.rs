//! Running ampsync as a process: its output ([`Run`]), signals, waiting for it to exit,
//! and measuring its peak memory.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use super::app::TestApp;

impl TestApp {
    /// As `ampsync_env`, and the peak resident memory of the ampsync process, in bytes.
    ///
    /// `wait4`'s `ru_maxrss` alone is not that: Linux carries the spawning process's
    /// high-water mark over into the child's at `exec` (std spawns with a shared address
    /// space), so with the whole suite running in this process it reads the suite's
    /// peak (190 MB seen), not ampsync's. The child's own `VmHWM` (the peak of the
    /// address space `exec` gave it) is polled from `/proc` while it runs instead; only
    /// if the run ends before one is read does `ru_maxrss` stand in.
    pub async fn ampsync_measured(&self, args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
        use std::io::Read;
        use std::os::unix::process::ExitStatusExt;
        let mut cmd = self.command(args, env);
        let std_cmd = cmd.as_std_mut();
        std_cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // A `pre_exec` hook makes std fork instead of posix_spawn (vfork): a vforked
        // child execs from this process's own address space, and Linux carries that
        // space's high-water mark into the child's `ru_maxrss`, so the measure would be
        // the peak of this whole test process (every test in it) so far. Forked, the
        // child starts from a copy whose mark is this process's current RSS.
        // SAFETY: the hook does nothing, so it is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            std_cmd.pre_exec(|| Ok(()));
        }
        // Reaped by `wait4` below, which std's `wait` would not let us read rusage from.
        #[allow(clippy::zombie_processes)]
        let mut child = std_cmd.spawn().expect("the ampsync binary starts");
        let pid = child.id();
        let poller = std::thread::spawn(move || peak_after_exec(pid));
        tokio::task::spawn_blocking(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut stderr = child.stderr.take().unwrap();
            let reader = std::thread::spawn(move || {
                stderr.read_to_end(&mut err).unwrap();
                err
            });
            child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
            let err = reader.join().unwrap();
            // The child has exited (its pipes closed) but is not reaped: the poller sees
            // a zombie and stops.
            let polled = poller.join().unwrap();
            let mut status = 0;
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let pid = child.id() as libc::pid_t;
            // SAFETY: waits for our own child, which std has not reaped.
            let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            assert_eq!(waited, pid, "wait4 failed");
            let output = Output {
                status: std::process::ExitStatus::from_raw(status),
                stdout: out,
                stderr: err,
            };
            (Run(output), polled.unwrap_or(usage.ru_maxrss as u64 * 1024))
        })
        .await
        .unwrap()
    }
}

/// The highest `VmHWM` of process `pid` once it runs `ampsync`, polled until it exits.
fn peak_after_exec(pid: u32) -> Option<u64> {
    let mut peak = None;
    loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return peak;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        if field("State:").is_none_or(|s| s.starts_with('Z')) {
            return peak;
        }
        // Before `exec` the child still shares the test's address space.
        if field("Name:") == Some("ampsync") {
            if let Some(kb) =
                field("VmHWM:").and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(Some(kb * 1024));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `check` until it holds; a test fails when it never does (a generous bound, not
/// a timing assertion).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to a running ampsync.
pub fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("the child is running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a spawned ampsync to exit; fails the test if it has not within `limit`.
pub async fn exited_within(child: tokio::process::Child, limit: Duration) -> Run {
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => Run(output.unwrap()),
        Err(_) => panic!("ampsync did not exit within {limit:?}"),
    }
}

/// The output of one `ampsync` run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Panics with the output unless the run exited 0.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code(),
            0,
            "ampsync failed.\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// The log lines whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }
    /// The JSON log lines on stderr.
    pub fn log_lines(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
