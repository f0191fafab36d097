//! `cargo bench --bench sync`: what a sync costs next to what Postgres itself needs to
//! store the result.
//!
//! For each N it generates N realistic installations deterministically (shared groups,
//! consumers, connections and provider apps; configs with read objects; tokens; about
//! 2.6 KB of JSON per installation, like the real API), serves them from a local HTTP
//! server, and runs the real `ampsync` binary (release build) against a fresh database
//! on the local Postgres:
//!
//! 1. full sync into empty tables,
//! 2. the same snapshot again (no-op),
//! 3. a snapshot with 5% of installations changed, 2% removed and 3% new,
//! 4. the COPY floor: every row the full sync wrote (current rows and their first
//!    history versions), exported from the synced tables and loaded with plain `COPY`
//!    into empty tables of the same schema (`LIKE … INCLUDING ALL`) in one transaction.
//!
//! It prints wall time, rows written (tuples inserted, updated or deleted in the
//! `ampersand` tables, from `pg_stat_user_tables`) and the peak RSS of the `ampsync`
//! process (`wait4`'s `ru_maxrss`, through a small launcher: see `launcher`) for each,
//! with each scenario's ratio to the COPY floor and to the full sync. The machine is
//! shared and noisy: compare ratios measured in one run, not absolute times across runs.
//!
//! Between scenarios it runs `CHECKPOINT` and `VACUUM (ANALYZE)` untimed, as the
//! minutes between two scheduled runs would (autovacuum), so no scenario pays for the
//! previous one's dirty pages.
//!
//! Settings (environment):
//! - `AMPSYNC_BENCH_N` — comma-separated sizes, default `10000,100000`;
//! - `AMPSYNC_BENCH_QUICK=1` (or `cargo bench --bench sync -- --quick`) — one small
//!   size (2000) for a smoke run;
//! - `AMPSYNC_BENCH_DATABASE_URL` — an admin connection to create and drop the bench
//!   databases, default `postgres://postgres@127.0.0.1:5432/postgres`;
//! - `AMPSYNC_BENCH_DUMP` — a directory to write the generated snapshots to
//!   (`installations-N.json`, `changed-N.json`), for `ampsync import` or a profiler;
//! - `AMPSYNC_BENCH_LOGS` — a directory to keep each sync scenario's log (JSON lines,
//!   `RUST_LOG` applies) in;
//! - `AMPSYNC_BENCH_WRAP` — a command to run each sync scenario under, `{}` standing
//!   for the scenario's name, e.g. `perf record -a -g -o /tmp/perf-{}.data --` (the
//!   peak RSS is then the wrapper's, or the larger of the two).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

const PROJECT_ID: &str = "proj-bench-7c1e";
const API_KEY: &str = "amp_live_sk_bench_0000000000000000000000000000";
const PROVIDERS: [&str; 2] = ["salesforce", "hubspot"];
/// The tables a sync writes, each with its `_history` table.
const TABLES: [&str; 8] = ampsync::catalog::Table::NAMES;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == LAUNCHER_FLAG) {
        return launcher();
    }
    // Started first, while this process is still small: see `launcher`.
    let launcher = Launcher::start();
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
    let admin_url = std::env::var("AMPSYNC_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut results = Vec::new();
    for n in sizes {
        results.extend(runtime.block_on(bench_size(n, &admin_url, &launcher)));
    }
    println!("\n{}", table(&results));
}

/// One measured scenario.
struct Measured {
    n: usize,
    scenario: &'static str,
    wall: Duration,
    rows: i64,
    /// Peak RSS in bytes; none for the COPY floor, which runs inside Postgres.
    peak_rss: Option<u64>,
}

async fn bench_size(n: usize, admin_url: &str, launcher: &Launcher) -> Vec<Measured> {
    eprintln!("== N = {n}: generating snapshots");
    let full = body(&snapshot(n, false));
    let changed = body(&snapshot(n, true));
    // Hand the generated documents' memory back to the system: gigabytes the bench no
    // longer needs would otherwise stay with it while ampsync and Postgres are measured
    // (on this VM, a 3 GB neighbour slowed the full sync by 0.5-0.9 s).
    // SAFETY: malloc_trim only releases free heap memory; nothing is borrowed from it.
    unsafe { libc::malloc_trim(0) };
    eprintln!(
        "   {:.1} MB ({:.2} KB per installation); changed snapshot {:.1} MB",
        full.len() as f64 / 1e6,
        full.len() as f64 / n as f64 / 1e3,
        changed.len() as f64 / 1e6
    );
    if let Ok(dir) = std::env::var("AMPSYNC_BENCH_DUMP") {
        for (name, body) in [("installations", &full), ("changed", &changed)] {
            let path = std::path::Path::new(&dir).join(format!("{name}-{n}.json"));
            std::fs::write(&path, body).expect("writing AMPSYNC_BENCH_DUMP");
            eprintln!("   wrote {}", path.display());
        }
    }
    let api = FakeApi::start(full.clone()).await;
    let db = Database::create(admin_url, n).await;
    let ampsync = Ampsync {
        launcher,
        database_url: db.url.clone(),
        api_url: api.url.clone(),
    };
    ampsync.run(&["migrate"]).expect("ampsync migrate");
    let mut conn = PgConnection::connect(&db.url)
        .await
        .expect("bench database");

    let mut out = Vec::new();
    let scenario = async |conn: &mut PgConnection, name: &'static str| {
        settle(conn).await;
        let before = rows_written(conn, "ampersand").await;
        eprintln!("   {name} ...");
        let run = ampsync
            .run_wrapped(
                &["sync", "--project", PROJECT_ID],
                Some(&format!("{n} {name}")),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = stable_rows_written(conn, "ampersand").await - before;
        eprintln!(
            "   {name}: {:.2}s, {rows} rows, {:.1} MB peak RSS; {}",
            run.wall.as_secs_f64(),
            run.peak_rss as f64 / 1e6,
            run.stdout.trim()
        );
        Measured {
            n,
            scenario: name,
            wall: run.wall,
            rows,
            peak_rss: Some(run.peak_rss),
        }
    };

    out.push(scenario(&mut conn, "full sync").await);
    // The floor loads exactly what the full sync wrote; export it before anything else runs.
    let exported = export(&mut conn).await;
    out.push(scenario(&mut conn, "no-op resync").await);
    api.set_installations(changed);
    out.push(scenario(&mut conn, "5% changed, 2% removed, 3% new").await);
    out.push(copy_floor(&mut conn, n, exported).await);

    conn.close().await.ok();
    db.drop().await;
    out
}

// ---------------------------------------------------------------------------------------
// Data: N installations, deterministic.
//
// Installations 4g..4g+3 belong to group g (a customer) and use the four integrations;
// installations 2c and 2c+1 share connection c (one per group and provider); consumer
// g/2 made the connections of groups 2k and 2k+1; two provider apps serve everything.
// Each installation has its own config with 1 or 2 read objects.

/// The snapshot's installations; `changed` applies the 5/2/3% change.
fn snapshot(n: usize, changed: bool) -> Vec<Value> {
    let mut list = Vec::with_capacity(n + n / 20);
    for i in 0..n {
        if changed && i % 50 == 7 {
            continue; // 2% removed
        }
        list.push(installation(i, changed && i % 20 == 3)); // 5% changed
    }
    if changed {
        list.extend((n..n + n * 3 / 100).map(|i| installation(i, false))); // 3% new
    }
    list
}

fn body(installations: &[Value]) -> Bytes {
    let mut out = Vec::with_capacity(installations.len() * 2_700);
    serde_json::to_writer(&mut out, installations).expect("JSON");
    Bytes::from(out)
}

/// A deterministic pseudo-random number for (i, salt): SplitMix64.
fn mix(i: usize, salt: u64) -> u64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn time(base_day: u64, salt: u64) -> String {
    let day = base_day % 28 + 1;
    let month = base_day / 28 % 12 + 1;
    format!(
        "2024-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        salt % 24,
        salt / 24 % 60,
        salt / 1440 % 60,
        salt % 1_000_000
    )
}

const OBJECTS: [&str; 8] = [
    "account",
    "contact",
    "opportunity",
    "lead",
    "campaign",
    "task",
    "event",
    "case",
];
const FIELDS: [&str; 12] = [
    "name",
    "industry",
    "annualrevenue",
    "numberofemployees",
    "website",
    "phone",
    "ownerid",
    "billingcity",
    "billingcountry",
    "rating",
    "type",
    "description",
];

fn installation(i: usize, changed: bool) -> Value {
    let c = i / 2;
    let g = i / 4;
    let provider = PROVIDERS[c % 2];
    let integration = format!("int-{provider}-{}", i % 2);
    let consumer_ref = format!("user-{:06}", g / 2);
    let r = mix(i, 1);
    let group = json!({
        "groupRef": format!("grp-{g:06}"), "groupName": format!("Customer {g} GmbH"),
        "projectId": PROJECT_ID,
        "createTime": time(mix(g, 2) % 300, mix(g, 3)), "updateTime": time(mix(g, 2) % 300 + 1, mix(g, 4))
    });
    let objects: serde_json::Map<String, Value> = (0..1 + (r % 2) as usize)
        .map(|k| {
            let object = OBJECTS[(r as usize + k) % OBJECTS.len()];
            let fields: serde_json::Map<String, Value> = (0..3 + (mix(i, 10 + k as u64) % 3))
                .map(|f| {
                    (
                        FIELDS[(f as usize + k) % FIELDS.len()].to_owned(),
                        json!(true),
                    )
                })
                .collect();
            let schedule = if changed && k == 0 {
                "*/30 * * * *"
            } else {
                "*/15 * * * *"
            };
            (
                object.to_owned(),
                json!({
                    "objectName": object, "schedule": schedule,
                    "destination": format!("{object}Webhook"),
                    "selectedFields": fields, "selectedFieldMappings": {},
                    "backfill": {"defaultPeriod": {"days": 30}}
                }),
            )
        })
        .collect();
    let created = time(mix(i, 5) % 300, mix(i, 6));
    let updated = if changed {
        time(330, mix(i, 7))
    } else {
        time(mix(i, 5) % 300 + 5, mix(i, 7))
    };
    json!({
        "id": format!("inst-{i:07}"),
        "projectId": PROJECT_ID,
        "integrationId": integration,
        "healthStatus": if changed { "degraded" } else { "healthy" },
        "lastOperationStatus": if changed { "failure" } else { "success" },
        "createTime": created,
        "updateTime": updated,
        "createdBy": format!("consumer:{consumer_ref}"),
        "group": group,
        "connection": {
            "id": format!("conn-{c:07}"),
            "projectId": PROJECT_ID,
            "provider": provider,
            "group": group,
            "consumer": {
                "consumerRef": consumer_ref, "consumerName": format!("Person {}", g / 2),
                "projectId": PROJECT_ID, "createTime": time(mix(g / 2, 8) % 300, 0),
                "updateTime": time(mix(g / 2, 8) % 300, 1)
            },
            "createTime": time(mix(c, 9) % 300, mix(c, 11)),
            "updateTime": time(mix(c, 9) % 300 + 2, mix(c, 12)),
            "authScheme": "oauth2/authorizationCode",
            "status": "working",
            "providerApp": {
                "id": format!("papp-{provider}"), "projectId": PROJECT_ID, "provider": provider,
                "clientId": format!("3MVG9{provider}ClientId"), "externalRef": "ext-1",
                "scopes": [["api", "refresh_token", "offline_access"]],
                "metadata": {"providerParams": {"client_secret": format!("cs_{provider}_8Zq4Lr2Xv7Nw1Pt5Ks9Hd3Jm")}},
                "createTime": "2023-11-07T05:31:56Z", "updateTime": "2023-11-07T05:31:56Z"
            },
            "providerWorkspaceRef": format!("workspace-{c}"),
            "providerConsumerRef": format!("005Hs0000{c:07}"),
            "oauth2AuthorizationCode": {
                "accessToken": {
                    "token": format!("00D5g000004Sn{c:07}!AQ4AQFjR8x{}Kp2Lm9Vq7Ws3Xt6Yu1Zb4Nc8Md5Ge0HfT1rE", mix(c, 13) % 1000),
                    "issuedAt": time(mix(c, 14) % 300, mix(c, 15)),
                    "expiresAt": time(mix(c, 14) % 300 + 1, mix(c, 15))
                },
                "refreshToken": {
                    "token": format!("5Aep861TSESvWeug_ztpnAk6BGQxRdovMLhHso6MoZqdrLFxJ0w{c:07}"),
                    "issuedAt": time(mix(c, 14) % 300, mix(c, 15)),
                    "expiresAt": time(mix(c, 14) % 300 + 180, mix(c, 15))
                },
                "scopes": ["api", "refresh_token", "offline_access"]
            },
            "providerMetadata": {"instanceUrl": {"value": format!("https://c{c}.my.salesforce.com"), "source": "provider"}}
        },
        "config": {
            "id": format!("cfg-{i:07}"),
            "revisionId": format!("rev-{provider}-{}{}", i % 2, if changed { "b" } else { "" }),
            "createTime": created,
            "createdBy": "builder:bld-3",
            "content": {
                "provider": provider,
                "read": {"objects": objects},
                "write": {"objects": {}},
                "proxy": {"enabled": true},
                "subscribe": {"objects": {}}
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// The fake API: one project, four integrations, the installations body as generated.

struct FakeApi {
    installations: Arc<Mutex<Bytes>>,
    url: String,
}

impl FakeApi {
    async fn start(installations: Bytes) -> FakeApi {
        let state = Arc::new(Mutex::new(installations));
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
        let app = Router::new()
            .route(
                &format!("/v1/projects/{PROJECT_ID}"),
                get(move || async move { json_body(project.clone()) }),
            )
            .route(
                &format!("/v1/projects/{PROJECT_ID}/integrations"),
                get(move || async move { json_body(integrations.clone()) }),
            )
            .route(
                &format!("/v1/projects/{PROJECT_ID}/installations"),
                get(|State(body): State<Arc<Mutex<Bytes>>>| async move {
                    let body = body.lock().expect("lock").clone();
                    json_body(body)
                }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let url = format!("http://{}/v1", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeApi {
            installations: state,
            url,
        }
    }

    fn set_installations(&self, body: Bytes) {
        *self.installations.lock().expect("lock") = body;
    }
}

fn json_body(body: Bytes) -> Response {
    let mut resp = Body::from(body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

// ---------------------------------------------------------------------------------------
// The database and the binary.

struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin_url: &str, n: usize) -> Database {
        let name = format!("ampsync_bench_{}_{n}", std::process::id());
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

    async fn drop(self) {
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

struct Ampsync<'a> {
    launcher: &'a Launcher,
    database_url: String,
    api_url: String,
}

struct ChildRun {
    wall: Duration,
    peak_rss: u64,
    stdout: String,
}

impl Ampsync<'_> {
    /// Runs the release binary to completion; its wall time and peak RSS.
    fn run(&self, args: &[&str]) -> Result<ChildRun, String> {
        self.run_wrapped(args, None)
    }

    /// As `run`; with `AMPSYNC_BENCH_WRAP` set, `scenario` runs under that command
    /// (`{}` in it becomes a slug of the scenario's name): a profiler, say.
    fn run_wrapped(&self, args: &[&str], scenario: Option<&str>) -> Result<ChildRun, String> {
        let mut argv: Vec<String> = Vec::new();
        if let (Some(scenario), Ok(wrap)) = (scenario, std::env::var("AMPSYNC_BENCH_WRAP")) {
            argv.extend(
                wrap.split_whitespace()
                    .map(|w| w.replace("{}", &slug(scenario))),
            );
        }
        argv.push(env!("CARGO_BIN_EXE_ampsync").to_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let request = json!({
            "argv": argv,
            "env": {
                "PATH": std::env::var("PATH").unwrap_or_default(),
                "DATABASE_URL": self.database_url,
                "AMPERSAND_API_URL": self.api_url,
                "AMPERSAND_API_KEY": API_KEY,
                "AMPSYNC_LOG_FORMAT": "json",
                "RUST_LOG": std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            },
            "stdout": stdout_path,
            "stderr": stderr_path,
        });
        let reply = self.launcher.run(&request)?;
        if let (Some(scenario), Ok(dir)) = (scenario, std::env::var("AMPSYNC_BENCH_LOGS")) {
            let to = std::path::Path::new(&dir).join(format!("{}.log", slug(scenario)));
            std::fs::copy(&stderr_path, to).map_err(|e| format!("AMPSYNC_BENCH_LOGS: {e}"))?;
        }
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let code = reply["code"].as_i64().unwrap_or(-1);
        if code != 0 {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            return Err(format!(
                "ampsync {args:?} exited with {code}\n{stdout}\n{stderr}"
            ));
        }
        Ok(ChildRun {
            wall: Duration::from_nanos(reply["wall_ns"].as_u64().unwrap_or_default()),
            peak_rss: reply["peak_rss"].as_u64().unwrap_or_default(),
            stdout,
        })
    }
}

/// `100000 no-op resync` → `100000-noop-resync`, for file names.
fn slug(scenario: &str) -> String {
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

const LAUNCHER_FLAG: &str = "--launcher";

/// The launcher process, spoken to in JSON lines over its stdin and stdout.
struct Launcher {
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
    fn start() -> Launcher {
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
fn launcher() {
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
async fn settle(conn: &mut PgConnection) {
    for sql in ["VACUUM (ANALYZE)", "CHECKPOINT"] {
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }
}

/// Tuples inserted, updated or deleted so far in the synced tables of `schema` (the
/// bookkeeping tables `sync_runs` and `rejected_records` left out).
async fn rows_written(conn: &mut PgConnection, schema: &str) -> i64 {
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
         WHERE schemaname = $1 AND relname NOT IN ('sync_runs', 'rejected_records')",
    )
    .bind(schema)
    .fetch_one(&mut *conn)
    .await
    .expect("pg_stat_user_tables")
}

/// As `rows_written`, once the counts stop moving: a backend reports its counts as it
/// exits, a moment after its client has gone.
async fn stable_rows_written(conn: &mut PgConnection, schema: &str) -> i64 {
    let mut last = rows_written(conn, schema).await;
    let mut same = 0;
    while same < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rows_written(conn, schema).await;
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

/// The synced tables and their history, as `COPY … TO STDOUT` text.
async fn export(conn: &mut PgConnection) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for table in TABLES {
        for name in [table.to_owned(), format!("{table}_history")] {
            let mut data = Vec::new();
            let mut stream = conn
                .copy_out_raw(&format!("COPY ampersand.{name} TO STDOUT"))
                .await
                .expect("COPY TO");
            use futures_util::StreamExt;
            while let Some(chunk) = stream.next().await {
                data.extend_from_slice(&chunk.expect("COPY data"));
            }
            drop(stream);
            out.push((name, data));
        }
    }
    out
}

/// Scenario 4: the exported rows loaded with plain COPY into empty tables of the same
/// schema (columns, keys, indexes, constraints), in one transaction.
async fn copy_floor(
    conn: &mut PgConnection,
    n: usize,
    exported: Vec<(String, Vec<u8>)>,
) -> Measured {
    sqlx::query("CREATE SCHEMA floor")
        .execute(&mut *conn)
        .await
        .expect("schema floor");
    for (name, _) in &exported {
        sqlx::query(&format!(
            "CREATE TABLE floor.{name} (LIKE ampersand.{name} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await
        .expect("floor table");
    }
    settle(conn).await;
    let before = rows_written(conn, "floor").await;
    eprintln!("   COPY floor ...");
    let started = Instant::now();
    let mut tx = conn.begin().await.expect("begin");
    for (name, data) in &exported {
        let mut copy = tx
            .copy_in_raw(&format!("COPY floor.{name} FROM STDIN"))
            .await
            .expect("COPY FROM");
        for chunk in data.chunks(1 << 20) {
            copy.send(chunk).await.expect("COPY data");
        }
        copy.finish().await.expect("COPY finish");
    }
    tx.commit().await.expect("commit");
    let wall = started.elapsed();
    let rows = stable_rows_written(conn, "floor").await - before;
    eprintln!("   COPY floor: {:.2}s, {rows} rows", wall.as_secs_f64());
    Measured {
        n,
        scenario: "COPY floor",
        wall,
        rows,
        peak_rss: None,
    }
}

// ---------------------------------------------------------------------------------------
// The report.

fn table(results: &[Measured]) -> String {
    let mut out = String::from(
        "| N | scenario | wall time | rows written | peak RSS | × COPY floor | × full sync |\n\
         |---:|---|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let same_n = |name: &str| {
            results
                .iter()
                .find(|r| r.n == m.n && r.scenario == name)
                .map(|r| r.wall.as_secs_f64())
        };
        let ratio = |base: Option<f64>| match base {
            Some(b) if b > 0.0 => format!("{:.2}", m.wall.as_secs_f64() / b),
            _ => "–".into(),
        };
        let to_full = if m.scenario == "full sync" || m.scenario == "COPY floor" {
            "–".into()
        } else {
            ratio(same_n("full sync"))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} s | {} | {} | {} | {} |",
            m.n,
            m.scenario,
            m.wall.as_secs_f64(),
            m.rows,
            m.peak_rss
                .map_or("–".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            if m.scenario == "COPY floor" {
                "1.00".into()
            } else {
                ratio(same_n("COPY floor"))
            },
            to_full,
        );
    }
    let peaks: Vec<(usize, u64)> = results
        .iter()
        .filter_map(|m| m.peak_rss.map(|p| (m.n, p)))
        .fold(Vec::new(), |mut acc, (n, p)| {
            match acc.iter_mut().find(|(k, _)| *k == n) {
                Some((_, q)) => *q = (*q).max(p),
                None => acc.push((n, p)),
            }
            acc
        });
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last()) {
        if first.0 != last.0 {
            let _ = writeln!(
                out,
                "\npeak RSS at N = {}: {:.2} × the figure at N = {}",
                last.0,
                last.1 as f64 / first.1 as f64,
                first.0
            );
        }
    }
    let _ = std::io::stdout().flush();
    out
}
