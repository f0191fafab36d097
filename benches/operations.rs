//! `cargo bench --bench operations`: what reading operations (issue 22) costs a sync, in
//! requests, seconds and memory, at the default settings and with `--operations all`.
//!
//! For each N (`AMPSYNC_BENCH_N`, default `10000,100000`) a local HTTP server answers as
//! a project of N installations would, each with five operations:
//!
//! - `GET /projects/{p}/installations`: N light installations (a group, a connection
//!   without tokens, a small config: the snapshot is not what this bench measures);
//!   each one's `lastOperationStatus` and `healthStatus` follow its newest operation;
//! - `GET …/installations/{id}/operations`: that installation's operations, newest
//!   first, paged by `pageSize` and an offset `pageToken`, built on request. They look
//!   like the samples' (`samples/generate_operations.py`): reads and writes, objects,
//!   progress, write ids, retries; 2 % failed, and 1 % of installations have one in
//!   progress;
//! - `GET /projects/{p}/operations/{id}/logs`: three entries for any operation.
//!
//! The world has two states. In the first, every installation has its five operations.
//! In the second, the in-progress ones have finished and 5 % of installations (chosen by
//! a hash) have one or two new operations; a fifth of those end in failure, so their
//! installation's `lastOperationStatus` changes in the snapshot, which is all the hint
//! ampsync gets.
//!
//! Two databases, each synced by the real `ampsync` binary (release build) in turn:
//!
//! 1. `--operations changed` (the default, 2,000 requests a run): a first run, a run
//!    with nothing new, then the second state;
//! 2. `--operations all`: a backfill into empty tables, a run with nothing new, then the
//!    second state;
//!
//! and on each, for scale, the same no-op snapshot with `--operations off`: the run
//! without any operation read. For each run it prints the wall time, the requests the
//! server answered (operation pages and logs), what the run ledger says it read and
//! left, the operations it inserted and updated, the log entries stored, and the peak
//! RSS of the `ampsync` process (see `support::Launcher`); then, for the second state,
//! how many of the new operations each mode found. The machine is shared and noisy:
//! compare figures of one run, not absolute times across runs.
//!
//! Settings: `AMPSYNC_BENCH_N`, `AMPSYNC_BENCH_QUICK=1` (or `-- --quick`),
//! `AMPSYNC_BENCH_RUNS`, `AMPSYNC_BENCH_BIN`, `AMPSYNC_BENCH_DATABASE_URL`,
//! `AMPSYNC_BENCH_LOGS` and `AMPSYNC_BENCH_WRAP`, as for `--bench sync`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

// Shared with `--bench sync`, which uses the rest of it.
#[allow(dead_code)]
mod support;
use support::*;

/// Operations every installation has in the first state.
const BASE_OPERATIONS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == LAUNCHER_FLAG) {
        return launcher();
    }
    // Started first, while this process is still small: see `support::Launcher`.
    let launcher = Launcher::start();
    let Settings {
        sizes,
        runs,
        admin_url,
    } = Settings::from_env(&args);
    let binary = Binary::from_env(&launcher);
    let runtime = support::runtime();
    let mut results = Vec::new();
    for n in sizes {
        let world = Arc::new(World::new(n));
        for run in 1..=runs {
            let setup = Setup {
                admin_url: &admin_url,
                launcher: &launcher,
                binary: &binary,
            };
            results.extend(runtime.block_on(bench_run(&world, run, &setup)));
            println!("\n{}", report(&results));
        }
    }
}

struct Setup<'a> {
    admin_url: &'a str,
    launcher: &'a Launcher,
    binary: &'a Binary,
}

/// One measured run of `ampsync sync`.
struct Measured {
    n: usize,
    run: usize,
    scenario: String,
    wall: Duration,
    peak_rss: u64,
    /// Operation pages and log requests the server answered during the run.
    page_requests: u64,
    log_requests: u64,
    /// The run ledger's `sync_runs.operations` (null for `--operations off`).
    ledger: Value,
    /// Rows in `operations` and `operation_logs` after the run.
    operations_stored: i64,
    log_entries_stored: i64,
    /// Of those, the second state's new operations (created after `NOW_SECS`).
    new_stored: i64,
    /// New operations the second state serves, when this run saw it.
    new_served: Option<u64>,
}

async fn bench_run(world: &Arc<World>, run: usize, setup: &Setup<'_>) -> Vec<Measured> {
    let n = world.n;
    eprintln!("== N = {n}, run {run}");
    let url = serve(world.clone().routes()).await;
    let mut out = Vec::new();
    for (mode, flags) in [("default", &[][..]), ("all", &["--operations", "all"][..])] {
        world.later.store(false, Ordering::SeqCst);
        let db = Database::create(setup.admin_url, &format!("ops_{n}_{run}_{mode}")).await;
        let ampsync = Ampsync {
            launcher: setup.launcher,
            binary: setup.binary.path.clone(),
            database_url: db.url.clone(),
            api_url: url.clone(),
            env: Vec::new(),
        };
        ampsync.run(&["migrate"], None).expect("ampsync migrate");
        let mut conn = PgConnection::connect(&db.url)
            .await
            .expect("bench database");
        let mut sync = vec!["sync", "--project", PROJECT_ID];
        sync.extend_from_slice(flags);
        let first = if mode == "all" {
            "backfill"
        } else {
            "first run"
        };
        for (scenario, later) in [(first, false), ("nothing new", false), ("5% new", true)] {
            world.later.store(later, Ordering::SeqCst);
            let name = format!("{mode}, {scenario}");
            let mut m = measure(&mut conn, &ampsync, world, &name, &sync).await;
            (m.n, m.run) = (n, run);
            if later {
                m.new_served = Some(world.new_operations());
            }
            out.push(m);
        }
        let off = ["sync", "--project", PROJECT_ID, "--operations", "off"];
        let name = format!("{mode}, then operations off (snapshot only)");
        let mut m = measure(&mut conn, &ampsync, world, &name, &off).await;
        (m.n, m.run) = (n, run);
        out.push(m);
        conn.close().await.ok();
        db.drop().await;
    }
    out
}

async fn measure(
    conn: &mut PgConnection,
    ampsync: &Ampsync<'_>,
    world: &World,
    scenario: &str,
    args: &[&str],
) -> Measured {
    settle(conn).await;
    let (pages, logs) = world.requests();
    let child = ampsync
        .run(args, Some(&format!("{} {scenario}", world.n)))
        .unwrap_or_else(|e| panic!("{scenario}: {e}"));
    let (pages_after, logs_after) = world.requests();
    let ledger: Option<Value> =
        sqlx::query_scalar("SELECT operations FROM ampersand.sync_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut *conn)
            .await
            .expect("the run ledger");
    let count = |table: &str| format!("SELECT count(*) FROM ampersand.{table}");
    let operations_stored: i64 = sqlx::query_scalar(&count("operations"))
        .fetch_one(&mut *conn)
        .await
        .expect("count operations");
    let log_entries_stored: i64 = sqlx::query_scalar(&count("operation_logs"))
        .fetch_one(&mut *conn)
        .await
        .expect("count operation_logs");
    let new_stored: i64 =
        sqlx::query_scalar(&format!("{} WHERE create_time >= $1", count("operations")))
            .bind(chrono::DateTime::from_timestamp(NOW_SECS as i64, 0))
            .fetch_one(&mut *conn)
            .await
            .expect("count new operations");
    eprintln!("   {scenario}: {:.2} s", child.wall.as_secs_f64());
    Measured {
        n: 0,
        run: 0,
        scenario: scenario.to_owned(),
        wall: child.wall,
        peak_rss: child.peak_rss,
        page_requests: pages_after - pages,
        log_requests: logs_after - logs,
        ledger: ledger.unwrap_or(Value::Null),
        operations_stored,
        log_entries_stored,
        new_stored,
        new_served: None,
    }
}

fn report(results: &[Measured]) -> String {
    let mut out = String::from(
        "| N | run | scenario | wall s | op pages | log requests | installations read | left | inserted | updated | operations stored | log entries | peak RSS MB |\n\
         |---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let number =
        |m: &Measured, key: &str| m.ledger[key].as_u64().map_or("–".into(), |v| v.to_string());
    for m in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            m.n,
            m.run,
            m.scenario,
            m.wall.as_secs_f64(),
            m.page_requests,
            m.log_requests,
            number(m, "installations_read"),
            number(m, "installations_left"),
            number(m, "inserted"),
            number(m, "updated"),
            m.operations_stored,
            m.log_entries_stored,
            m.peak_rss as f64 / 1e6,
        );
    }
    for m in results {
        if let Some(served) = m.new_served {
            let found = m.new_stored;
            let _ = writeln!(
                out,
                "N = {}, run {}, {}: {found} of {served} new operations found ({:.0} %)",
                m.n,
                m.run,
                m.scenario,
                100.0 * found as f64 / served.max(1) as f64
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The project the server answers for.

struct World {
    n: usize,
    /// The second state: in-progress operations finished, 5 % with new ones.
    later: AtomicBool,
    installations: [Bytes; 2],
    page_requests: AtomicU64,
    log_requests: AtomicU64,
}

impl World {
    fn new(n: usize) -> World {
        let body = |later| {
            let all: Vec<Value> = (0..n).map(|i| installation(i, later)).collect();
            Bytes::from(Value::Array(all).to_string())
        };
        World {
            n,
            later: AtomicBool::new(false),
            installations: [body(false), body(true)],
            page_requests: AtomicU64::new(0),
            log_requests: AtomicU64::new(0),
        }
    }

    fn requests(&self) -> (u64, u64) {
        (
            self.page_requests.load(Ordering::SeqCst),
            self.log_requests.load(Ordering::SeqCst),
        )
    }

    /// Operations the second state has that the first has not.
    fn new_operations(&self) -> u64 {
        (0..self.n).map(|i| new_operations(i) as u64).sum()
    }

    fn routes(self: Arc<World>) -> axum::Router {
        let base = format!("/v1/projects/{PROJECT_ID}");
        project_routes()
            .route(
                &format!("{base}/installations"),
                get(|State(world): State<Arc<World>>| async move {
                    let later = world.later.load(Ordering::SeqCst);
                    json_body(Body::from(world.installations[usize::from(later)].clone()))
                }),
            )
            .route(
                &format!(
                    "{base}/integrations/{{integration}}/installations/{{installation}}/operations"
                ),
                get(operations_page),
            )
            .route(
                &format!("{base}/operations/{{operation}}/logs"),
                get(
                    |State(world): State<Arc<World>>, Path(operation): Path<String>| async move {
                        world.log_requests.fetch_add(1, Ordering::SeqCst);
                        json_body(Body::from(logs(&operation).to_string()))
                    },
                ),
            )
            .with_state(self)
    }
}

async fn operations_page(
    State(world): State<Arc<World>>,
    Path((_, installation)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    world.page_requests.fetch_add(1, Ordering::SeqCst);
    let Some(i) = installation
        .strip_prefix("inst-")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|&i| i < world.n)
    else {
        return (axum::http::StatusCode::NOT_FOUND, "no such installation").into_response();
    };
    let size: usize = query
        .get("pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .clamp(1, 1000);
    let from: usize = query
        .get("pageToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let all = operations(i, world.later.load(Ordering::SeqCst));
    let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
    let next = from + page.len();
    let pagination = if next < all.len() {
        json!({"done": false, "nextPageToken": next.to_string()})
    } else {
        json!({"done": true})
    };
    json_body(Body::from(
        json!({"results": page, "pagination": pagination}).to_string(),
    ))
}

/// The instant every base operation is before, and every new one after.
const NOW_SECS: u64 = 1_796_083_200; // 2026-12-01T00:00:00Z

fn time_at(secs: u64) -> String {
    let at = chrono::DateTime::from_timestamp(secs as i64, 0).expect("a valid instant");
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// How many new operations installation `i` has in the second state: one or two for 5 %.
fn new_operations(i: usize) -> usize {
    if mix(i, 52).is_multiple_of(20) {
        1 + (mix(i, 53) % 2) as usize
    } else {
        0
    }
}

/// Installation `i`'s operations, newest first.
fn operations(i: usize, later: bool) -> Vec<Value> {
    let count = BASE_OPERATIONS + if later { new_operations(i) } else { 0 };
    (0..count).rev().map(|k| operation(i, k, later)).collect()
}

/// Operation `k` of installation `i`: the base ones (k < 5) three hours apart before
/// `NOW_SECS`, the new ones after it.
fn operation(i: usize, k: usize, later: bool) -> Value {
    let seed = (i * 16 + k) as u64;
    let created = if k < BASE_OPERATIONS {
        NOW_SECS - (BASE_OPERATIONS - k) as u64 * 3 * 3600 + mix(i, seed) % 3600
    } else {
        NOW_SECS + (k - BASE_OPERATIONS) as u64 * 600 + mix(i, seed) % 600
    };
    let action = if k.is_multiple_of(2) { "read" } else { "write" };
    let status = status(i, k, later);
    let object =
        ["contact", "account", "opportunity", "lead", "ticket"][(mix(i, seed + 1) % 5) as usize];
    let id = operation_id(i, k);
    let records = 50 + mix(i, seed + 2) % 5000;
    let mut metadata = json!({"objects": [object]});
    if action == "read" {
        metadata["progress"] = json!({
            "installationId": format!("inst-{i:07}"), "objectName": object, "operationId": id,
            "recordsProcessed": records, "recordsEstimatedTotal": records + mix(i, seed + 3) % 500
        });
    }
    let result = match status {
        "failure" => {
            metadata["retry"] = json!({
                "attempts": 3, "lastAttempt": time_at(created + 540), "lastNotified": time_at(created + 600)
            });
            Some(format!(
                "[{object}] read failed: INVALID_SESSION_ID: Session expired or invalid"
            ))
        }
        "success" if action == "write" => {
            let ids: Vec<String> = (0..records % 7 + 1)
                .map(|r| format!("003FAKE{:09}AAW", mix(i, seed * 8 + r) % 1_000_000_000))
                .collect();
            metadata["successfulRecordIds"] = json!(ids);
            Some(format!(
                "Batch write completed ({} succeeded, 0 failed)",
                ids.len()
            ))
        }
        "success" => Some(format!("[{object}] {records} records read")),
        _ => None,
    };
    let provider = PROVIDERS[(i / 2) % 2];
    let mut op = json!({
        "id": id,
        "projectId": PROJECT_ID,
        "integrationId": format!("int-{provider}-{}", i % 2),
        "installationId": format!("inst-{i:07}"),
        "configId": format!("cfg-{i:07}"),
        "actionType": action,
        "status": status,
        "metadata": metadata,
        "createTime": time_at(created),
    });
    if let Some(result) = result {
        op["result"] = json!(result);
    }
    op
}

/// 2 % of operations fail; 1 % of installations have their newest base operation in
/// progress in the first state; a fifth of the new ones fail.
fn status(i: usize, k: usize, later: bool) -> &'static str {
    let seed = (i * 16 + k) as u64;
    let newest_base = k == BASE_OPERATIONS - 1;
    if newest_base && mix(i, 51).is_multiple_of(100) && !later {
        "in_progress"
    } else if k >= BASE_OPERATIONS {
        if mix(i, seed + 54).is_multiple_of(5) {
            "failure"
        } else {
            "success"
        }
    } else if mix(i, seed + 50).is_multiple_of(50) {
        "failure"
    } else {
        "success"
    }
}

/// A UUID-shaped id, the same for (i, k) in both states.
fn operation_id(i: usize, k: usize) -> String {
    let a = mix(i, 60 + k as u64);
    let b = mix(i, 80 + k as u64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn logs(operation: &str) -> Value {
    json!([
        {"timestamp": "2026-11-30T21:00:00Z", "severity": "info",
         "message": {"msg": "read started", "details": {"operationId": operation}}},
        {"timestamp": "2026-11-30T21:00:05Z", "severity": "warning",
         "message": {"msg": "the provider answered 503, retrying", "details": {"attempt": 1}}},
        {"timestamp": "2026-11-30T21:09:00Z", "severity": "error",
         "message": {"msg": "read failed", "error": "INVALID_SESSION_ID: Session expired or invalid",
                     "details": {"operationId": operation}}}
    ])
}

/// Installation `i`, its statuses from its newest operation.
fn installation(i: usize, later: bool) -> Value {
    let c = i / 2;
    let provider = PROVIDERS[c % 2];
    // The newest operation's status, without building the operations.
    let newest = BASE_OPERATIONS + if later { new_operations(i) } else { 0 } - 1;
    let last = status(i, newest, later);
    let group = json!({
        "groupRef": format!("grp-{:06}", c / 2), "groupName": format!("Customer {} GmbH", c / 2),
        "projectId": PROJECT_ID, "createTime": "2024-03-01T10:00:00Z", "updateTime": "2024-03-01T10:00:00Z"
    });
    json!({
        "id": format!("inst-{i:07}"),
        "projectId": PROJECT_ID,
        "integrationId": format!("int-{provider}-{}", i % 2),
        "healthStatus": if last == "failure" { "unhealthy" } else { "healthy" },
        "lastOperationStatus": last,
        "createTime": "2024-03-01T10:00:00Z",
        "updateTime": "2024-03-02T10:00:00Z",
        "createdBy": format!("consumer:user-{:06}", c / 4),
        "group": group,
        "connection": {
            "id": format!("conn-{c:07}"), "projectId": PROJECT_ID, "provider": provider,
            "group": group,
            "consumer": {"consumerRef": format!("user-{:06}", c / 4), "consumerName": format!("Person {}", c / 4),
                         "projectId": PROJECT_ID, "createTime": "2024-03-01T10:00:00Z",
                         "updateTime": "2024-03-01T10:00:00Z"},
            "createTime": "2024-03-01T10:00:00Z", "updateTime": "2024-03-01T10:00:00Z",
            "authScheme": "oauth2/authorizationCode", "status": "working"
        },
        "config": {
            "id": format!("cfg-{i:07}"), "revisionId": format!("rev-{provider}-{}", i % 2),
            "createTime": "2024-03-01T10:00:00Z", "createdBy": "builder:bld-3",
            "content": {"provider": provider, "read": {"objects": {"contact": {"objectName": "contact", "schedule": "*/15 * * * *"}}}}
        }
    })
}
