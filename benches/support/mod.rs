//! What the benches share: the settings they read from the environment, the `ampsync`
//! binary run through a launcher that measures its peak RSS (`wait4`), the bench
//! databases, the fake API's fixed routes (the project and its integrations), and
//! the statistics of rows written.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

pub const PROJECT_ID: &str = "proj-bench-7c1e";
pub const API_KEY: &str = "amp_live_sk_bench_0000000000000000000000000000";
pub const PROVIDERS: [&str; 2] = ["salesforce", "hubspot"];

/// What `AMPSYNC_BENCH_*` and the command line ask for.
pub struct Settings {
    /// `AMPSYNC_BENCH_N`, or the one small size of `AMPSYNC_BENCH_QUICK=1` / `--quick`.
    pub sizes: Vec<usize>,
    /// `AMPSYNC_BENCH_RUNS`, 1 or more.
    pub runs: usize,
    /// `AMPSYNC_BENCH_DATABASE_URL`.
    pub admin_url: String,
}

impl Settings {
    pub fn from_env(args: &[String]) -> Settings {
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("AMPSYNC_BENCH_QUICK").is_ok_and(|v| v == "1");
        let sizes: Vec<usize> = if quick {
            vec![2_000]
        } else {
            std::env::var("AMPSYNC_BENCH_N")
                .unwrap_or_else(|_| "10000,100000".into())
                .split(',')
                .map(|n| {
                    n.trim()
                        .replace('_', "")
                        .parse()
                        .expect("AMPSYNC_BENCH_N: numbers")
                })
                .collect()
        };
        let runs: usize = std::env::var("AMPSYNC_BENCH_RUNS").map_or(1, |r| {
            r.trim()
                .parse()
                .ok()
                .filter(|&r| r > 0)
                .expect("AMPSYNC_BENCH_RUNS: a number, 1 or more")
        });
        let admin_url = std::env::var("AMPSYNC_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        Settings {
            sizes,
            runs,
            admin_url,
        }
    }
}

/// The tokio runtime the benches' servers and database connections run on: one worker,
/// so the bench takes as little as it can of the cores `ampsync` and Postgres use.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The fake API's fixed routes: the project, and its four integrations (two per
/// provider, `int-{provider}-{0,1}`).
pub fn project_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let project = json!({
        "id": PROJECT_ID, "name": "bench", "appName": "Bench", "orgId": "org-1",
        "createTime": "2023-07-13T21:34:44.816Z", "updateTime": "2024-01-02T03:04:05Z"
    });
    let integrations: Vec<Value> = PROVIDERS
        .iter()
        .flat_map(|p| (0..2).map(move |k| (p, k)))
        .map(|(provider, k)| {
            json!({
                "id": format!("int-{provider}-{k}"), "projectId": PROJECT_ID,
                "name": format!("{provider}-{k}"), "provider": provider,
                "createTime": "2023-08-01T10:00:00Z", "updateTime": "2023-09-01T10:00:00Z",
                "latestRevision": {"id": format!("rev-{provider}-{k}"), "specVersion": "1.0.0",
                                   "createTime": "2023-09-01T10:00:00Z",
                                   "content": {"provider": provider}}
            })
        })
        .collect();
    let project = Bytes::from(project.to_string());
    let integrations = Bytes::from(Value::Array(integrations).to_string());
    let base = format!("/v1/projects/{PROJECT_ID}");
    Router::new()
        .route(
            &base,
            get(move || async move { json_body(Body::from(project.clone())) }),
        )
        .route(
            &format!("{base}/integrations"),
            get(move || async move { json_body(Body::from(integrations.clone())) }),
        )
}

/// Serves `app` on a local port: the API's base URL (`http://127.0.0.1:port/v1`).
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let url = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A deterministic pseudo-random number for (i, salt): SplitMix64.
pub fn mix(i: usize, salt: u64) -> u64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn json_body(body: Body) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

// ---------------------------------------------------------------------------------------
// The database and the binary.

pub struct Database {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// A new database, named for this process and `suffix`.
    pub async fn create(admin_url: &str, suffix: &str) -> Database {
        let name = format!("ampsync_bench_{}_{suffix}", std::process::id());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("Postgres (AMPSYNC_BENCH_DATABASE_URL)");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .expect("drop an old bench database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the bench database");
        admin.close().await.ok();
        let mut url = url::Url::parse(admin_url).expect("a URL");
        url.set_path(&name);
        Database {
            admin_url: admin_url.into(),
            name,
            url: url.to_string(),
        }
    }

    pub async fn drop(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

/// The `ampsync` binary the scenarios run: `AMPSYNC_BENCH_BIN`, else this build's.
pub struct Binary {
    pub path: String,
    /// What its `--version` says.
    pub version: String,
}

impl Binary {
    pub fn from_env(launcher: &Launcher) -> Binary {
        let path = std::env::var("AMPSYNC_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ampsync").to_owned());
        let ampsync = Ampsync {
            launcher,
            binary: path.clone(),
            database_url: String::new(),
            api_url: String::new(),
            env: Vec::new(),
        };
        let version = ampsync
            .run(&["--version"], None)
            .unwrap_or_else(|e| panic!("AMPSYNC_BENCH_BIN: {e}"))
            .stdout
            .trim()
            .to_owned();
        eprintln!("== running {path} ({version})");
        Binary { path, version }
    }
}

pub struct Ampsync<'a> {
    pub launcher: &'a Launcher,
    pub binary: String,
    pub database_url: String,
    pub api_url: String,
    /// Set for every run besides the bench's own (`RUST_LOG` and the connection).
    pub env: Vec<(&'static str, &'static str)>,
}

pub struct ChildRun {
    pub wall: Duration,
    pub peak_rss: u64,
    pub stdout: String,
    /// What it logged (JSON lines).
    pub log: String,
}

impl Ampsync<'_> {
    /// Runs the binary to completion: its wall time, peak RSS and log. With
    /// `AMPSYNC_BENCH_WRAP` set, a `scenario` runs under that command (`{}` in it
    /// becomes a slug of the scenario's name): a profiler, say.
    pub fn run(&self, args: &[&str], scenario: Option<&str>) -> Result<ChildRun, String> {
        let mut argv: Vec<String> = Vec::new();
        if let (Some(scenario), Ok(wrap)) = (scenario, std::env::var("AMPSYNC_BENCH_WRAP")) {
            argv.extend(
                wrap.split_whitespace()
                    .map(|w| w.replace("{}", &slug(scenario))),
            );
        }
        argv.push(self.binary.clone());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let mut env = json!({
            "PATH": std::env::var("PATH").unwrap_or_default(),
            "DATABASE_URL": self.database_url,
            "AMPERSAND_API_URL": self.api_url,
            "AMPERSAND_API_KEY": API_KEY,
            "AMPSYNC_LOG_FORMAT": "json",
            "RUST_LOG": std::env::var("RUST_LOG").unwrap_or_else(|_| "ampsync=debug,info".into()),
        });
        for (name, value) in &self.env {
            env[*name] = json!(value);
        }
        let request = json!({
            "argv": argv,
            "env": env,
            "stdout": stdout_path,
            "stderr": stderr_path,
        });
        let reply = self.launcher.run(&request)?;
        if let (Some(scenario), Ok(dir)) = (scenario, std::env::var("AMPSYNC_BENCH_LOGS")) {
            let to = Path::new(&dir).join(format!("{}.log", slug(scenario)));
            std::fs::copy(&stderr_path, to).map_err(|e| format!("AMPSYNC_BENCH_LOGS: {e}"))?;
        }
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let code = reply["code"].as_i64().unwrap_or(-1);
        if code != 0 {
            return Err(format!(
                "ampsync {args:?} exited with {code}\n{stdout}\n{log}"
            ));
        }
        Ok(ChildRun {
            wall: Duration::from_nanos(reply["wall_ns"].as_u64().unwrap_or_default()),
            peak_rss: reply["peak_rss"].as_u64().unwrap_or_default(),
            stdout,
            log,
        })
    }
}

/// `100000 no-op resync` → `100000-noop-resync`, for file names.
pub fn slug(scenario: &str) -> String {
    scenario
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect::<String>()
        .replace(' ', "-")
}

// A child's peak RSS (`ru_maxrss`) counts its parent's resident memory at the fork
// that made it: Linux records the old address space's high-water mark at `exec`. This
// process holds hundreds of MB of generated snapshots, so `ampsync` is started by a
// small launcher instead: this same bench binary, re-run with `--launcher` before any
// snapshot exists, which spawns each run on request and reports what `wait4` says.

pub const LAUNCHER_FLAG: &str = "--launcher";

/// The launcher process, spoken to in JSON lines over its stdin and stdout.
pub struct Launcher {
    io: Mutex<Option<LauncherIo>>,
    child: std::process::Child,
}

type LauncherIo = (
    std::process::ChildStdin,
    std::io::BufReader<std::process::ChildStdout>,
);

impl Drop for Launcher {
    /// Closing its stdin ends the launcher; then it is waited for.
    fn drop(&mut self) {
        if let Ok(mut io) = self.io.lock() {
            io.take();
        }
        let _ = self.child.wait();
    }
}

impl Launcher {
    pub fn start() -> Launcher {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut child = Command::new(exe)
            .arg(LAUNCHER_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the launcher starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        Launcher {
            io: Mutex::new(Some((stdin, stdout))),
            child,
        }
    }

    fn run(&self, request: &Value) -> Result<Value, String> {
        use std::io::BufRead;
        let mut io = self.io.lock().map_err(|e| e.to_string())?;
        let io = io.as_mut().ok_or("the launcher has stopped")?;
        writeln!(io.0, "{request}").map_err(|e| format!("to the launcher: {e}"))?;
        let mut line = String::new();
        io.1.read_line(&mut line)
            .map_err(|e| format!("from the launcher: {e}"))?;
        let reply: Value = serde_json::from_str(&line).map_err(|e| format!("launcher: {e}"))?;
        match reply["error"].as_str() {
            Some(error) => Err(error.to_owned()),
            None => Ok(reply),
        }
    }
}

/// `--launcher`: for each request line, run the command and reply with its exit code,
/// wall time and peak RSS.
pub fn launcher() {
    use std::io::BufRead;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = match serde_json::from_str::<Value>(&line)
            .map_err(|e| e.to_string())
            .and_then(|request| launch(&request))
        {
            Ok(reply) => reply,
            Err(error) => json!({ "error": error }),
        };
        println!("{reply}");
    }
}

fn launch(request: &Value) -> Result<Value, String> {
    let file = |key: &str| {
        std::fs::File::create(request[key].as_str().unwrap_or("/dev/null"))
            .map_err(|e| e.to_string())
    };
    let argv: Vec<&str> = request["argv"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let (program, args) = argv.split_first().ok_or("no command")?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(file("stdout")?)
        .stderr(file("stderr")?);
    for (name, value) in request["env"].as_object().into_iter().flatten() {
        cmd.env(name, value.as_str().unwrap_or_default());
    }
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("starting ampsync: {e}"))?;
    let (code, peak_rss) = wait_with_rusage(child.id() as libc::pid_t)?;
    Ok(json!({
        "code": code,
        "peak_rss": peak_rss,
        "wall_ns": started.elapsed().as_nanos() as u64,
    }))
}

/// Waits for the child; its exit status and its peak resident set size in bytes.
fn wait_with_rusage(pid: libc::pid_t) -> Result<(i32, u64), String> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet waited for; the pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in kilobytes.
    Ok((code, usage.ru_maxrss as u64 * 1024))
}

/// What a scheduled job would find: dirty pages written out, statistics up to date.
pub async fn settle(conn: &mut PgConnection) {
    for sql in ["VACUUM (ANALYZE)", "CHECKPOINT"] {
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }
}

/// Tuples inserted, updated or deleted so far in the synced tables of `schema` (the
/// bookkeeping tables `sync_runs` and `rejected_records` left out), or in those of
/// `only`'s names.
pub async fn rows_written(conn: &mut PgConnection, schema: &str, only: Option<&[&str]>) -> i64 {
    // This connection's own counts (the COPY floor's) reach the statistics only when
    // it flushes them, at most once a second unless told to (PostgreSQL 15+).
    sqlx::query(
        "DO $$ BEGIN IF current_setting('server_version_num')::int >= 150000 THEN
             EXECUTE 'SELECT pg_stat_force_next_flush()'; END IF; END $$",
    )
    .execute(&mut *conn)
    .await
    .expect("flush stats");
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await
        .expect("clear stats snapshot");
    sqlx::query_scalar(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint
         FROM pg_stat_user_tables
         WHERE schemaname = $1
           AND relname NOT IN ('sync_runs', 'rejected_records', 'project_retention')
           AND ($2::text[] IS NULL OR relname = ANY($2))",
    )
    .bind(schema)
    .bind(only.map(<[&str]>::to_vec))
    .fetch_one(&mut *conn)
    .await
    .expect("pg_stat_user_tables")
}

/// As `rows_written`, once the counts stop moving: a backend reports its counts as it
/// exits, a moment after its client has gone.
pub async fn stable_rows_written(
    conn: &mut PgConnection,
    schema: &str,
    only: Option<&[&str]>,
) -> i64 {
    let mut last = rows_written(conn, schema, only).await;
    let mut same = 0;
    while same < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rows_written(conn, schema, only).await;
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}
