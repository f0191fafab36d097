//! `cargo bench --bench sync`: what a sync costs next to what Postgres itself needs to
//! store the result.
//!
//! For each N it generates a project deterministically, as a real one answers: N
//! installations (shared groups, consumers, connections and provider apps; tokens;
//! configs as heavy as real ones, see `config_content`; about 5 KB of JSON per
//! installation), the connections list (every connection an installation embeds, plus
//! as many "connected, not installed" ones with their own groups and consumers, about
//! 0.8 × N in all, as a real project of 100,000 installations had 80,552) and the
//! provider-apps list. It writes them to files, serves them from a local HTTP server
//! (streamed, `GET /projects/{p}/installations`, `/connections`, `/provider-apps`) and
//! runs the real `ampsync` binary (release build) against a fresh database on the local
//! Postgres, with `AMPSYNC_OPERATIONS=off` (operations are `--bench operations`'):
//!
//! 1. full sync into empty tables,
//! 2. the same snapshot again (no-op),
//! 3. the same snapshot served gzip-encoded (`Content-Encoding: gzip`, level 1), also a
//!    no-op: what decompression adds,
//! 4. the same snapshot with a third of the connections' OAuth tokens refreshed (chosen
//!    by a hash of the connection, spread over the project): a new access token, its
//!    `issuedAt` and `expiresAt`, and a new refresh-token `issuedAt`, in the
//!    installations that embed them and in the connections list alike. A real re-sync
//!    looks like this, not like 2;
//! 5. a snapshot with 5% of installations changed, 2% removed and 3% new, generated from
//!    the refreshed one (the tokens as 4 left them), so it is that change against what
//!    4 stored;
//! 6. the COPY floor: every row the full sync wrote (current rows and their first
//!    history versions), exported from the synced tables and loaded with plain `COPY`
//!    into empty tables of the same schema (`LIKE … INCLUDING ALL`) in one transaction;
//! 7. `ampsync import` of the full snapshot's files (`--connections-file`,
//!    `--provider-apps-file`) into a second, empty database.
//!
//! It prints wall time, rows written (tuples inserted, updated or deleted in the
//! synced tables and their history, from `pg_stat_user_tables`; the bookkeeping tables
//! left out), the peak RSS of the `ampsync`
//! process (`wait4`'s `ru_maxrss`, through a small launcher: see `launcher`) and its
//! temporary disk use (its log's `temp_bytes`) for each, with each scenario's ratio to
//! the COPY floor and to the full sync; then, from each run's debug log, where its time
//! went: reading the installations (download, parse, encode, hash; with MB/s of JSON),
//! reading the lists (with MB/s), loading the index, comparing, writing; then, for each
//! size, the figures of issue 21's target table beside their targets. The tables are
//! printed again after each size (and each run), so a long run's first sizes are not
//! lost if it stops; the last print holds them all. The machine is shared and noisy:
//! compare ratios measured in one run, not absolute times across runs.
//!
//! The lists' time: the `seconds` of their `fetched` (sync) or `read` (import) log line
//! when it has one, else the time since the log line before it that ended a read (the
//! installations' or the other list's), from the lines' timestamps.
//!
//! Between scenarios it runs `CHECKPOINT` and `VACUUM (ANALYZE)` untimed, as the
//! minutes between two scheduled runs would (autovacuum), so no scenario pays for the
//! previous one's dirty pages.
//!
//! Settings (environment):
//! - `AMPSYNC_BENCH_N` — comma-separated sizes, default `10000,100000`; `1000000` needs
//!   about 20 GB of disk for the files and 15 GB for the databases;
//! - `AMPSYNC_BENCH_QUICK=1` (or `cargo bench --bench sync -- --quick`) — one small
//!   size (2000) for a smoke run;
//! - `AMPSYNC_BENCH_RUNS` — how many times to run each size's scenarios, each time on
//!   fresh databases (same files), default 1; with 2 or more the target table gives
//!   each figure's best run and, in parentheses, the others;
//! - `AMPSYNC_BENCH_BIN` — the `ampsync` binary to run, default the one this build
//!   made (e.g. an older release's, on the same data; sync and import are called with
//!   flags 0.3.1 has);
//! - `AMPSYNC_BENCH_DATABASE_URL` — an admin connection to create and drop the bench
//!   databases, default `postgres://postgres@127.0.0.1:5432/postgres`;
//! - `AMPSYNC_BENCH_DIR` — where to write the generated files (`installations-N.json`,
//!   `connections-N.json`, `provider-apps-N.json` and their `.json.gz`,
//!   `refreshed-N.json`, `refreshed-connections-N.json`, `changed-N.json`) and the
//!   floor's rows, kept afterwards (for `ampsync import` or a profiler); default a
//!   temporary directory;
//! - `AMPSYNC_BENCH_LOGS` — a directory to keep each sync scenario's log (JSON lines)
//!   in; `RUST_LOG` applies, default `ampsync=debug,info` (the phases need it);
//! - `AMPSYNC_BENCH_WRAP` — a command to run each sync scenario under, `{}` standing
//!   for the scenario's name, e.g. `perf record -g -o /tmp/perf-{}.data --` (the
//!   peak RSS is then the wrapper's, or the larger of the two).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, MethodRouter};
use bytes::Bytes;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

mod support;
use support::*;

/// The tables a sync writes, each with its `_history` table.
const TABLES: [&str; 8] = ampsync::catalog::Table::NAMES;

const FULL: &str = "full sync";
const NOOP: &str = "no-op resync";
const NOOP_GZIP: &str = "no-op resync, gzip";
const REFRESHED: &str = "no-op, a third of tokens refreshed";
const CHANGE: &str = "5% changed, 2% removed, 3% new";
const IMPORT: &str = "import, empty tables";
const FLOOR: &str = "COPY floor";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == LAUNCHER_FLAG) {
        return launcher();
    }
    // Started first, while this process is still small: see `launcher`.
    let launcher = Launcher::start();
    let Settings {
        sizes,
        runs,
        admin_url,
    } = Settings::from_env(&args);
    let binary = Binary::from_env(&launcher);
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir =
        std::env::var("AMPSYNC_BENCH_DIR").map_or_else(|_| temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("AMPSYNC_BENCH_DIR");

    let runtime = support::runtime();
    let mut results = Vec::new();
    for n in sizes {
        let project = Project::generate(n, &dir);
        for run in 1..=runs {
            let setup = Setup {
                admin_url: &admin_url,
                dir: &dir,
                launcher: &launcher,
                binary: &binary,
            };
            results.extend(runtime.block_on(bench_run(&project, run, &setup)));
            println!("\n{}", report(&results, &binary));
        }
        if std::env::var("AMPSYNC_BENCH_DIR").is_err() {
            project.remove_files();
        }
    }
}

/// One measured scenario.
struct Measured {
    n: usize,
    /// Which of `AMPSYNC_BENCH_RUNS` runs, from 1.
    run: usize,
    scenario: &'static str,
    wall: Duration,
    rows: i64,
    /// Peak RSS in bytes; none for the COPY floor, which runs inside Postgres.
    peak_rss: Option<u64>,
    /// What its log says of its phases; none for the COPY floor.
    phases: Option<Phases>,
    /// What it read.
    bytes: BodySizes,
}

/// The sizes of what a scenario reads.
#[derive(Default, Clone, Copy)]
struct BodySizes {
    /// The installations body as sent (gzip-encoded for the gzip run).
    body: u64,
    /// That body's JSON.
    json: u64,
    /// The JSON of the two lists.
    lists: u64,
}

/// What every run of every size shares.
struct Setup<'a> {
    admin_url: &'a str,
    dir: &'a Path,
    launcher: &'a Launcher,
    binary: &'a Binary,
}

/// One run of a size's scenarios, on fresh databases.
async fn bench_run(project: &Project, run: usize, setup: &Setup<'_>) -> Vec<Measured> {
    let n = project.n;
    eprintln!("== N = {n}, run {run}");
    let api = FakeApi::start(project.full.served(false)).await;
    let (db, ampsync, mut conn) = migrated(setup, &format!("{n}_{run}"), &api).await;

    let sync = ["sync", "--project", PROJECT_ID];
    let mut out = Vec::new();
    let mut sync_scenario = async |conn: &mut PgConnection, name, served: &Snapshot, gzip| {
        api.serve(served.served(gzip));
        let m = measure(conn, &ampsync, (n, run), name, &sync, served.sizes(gzip)).await;
        out.push(m);
    };
    sync_scenario(&mut conn, FULL, &project.full, false).await;
    // The floor loads exactly what the full sync wrote; export it before anything else runs.
    let exported = export(&mut conn, setup.dir).await;
    sync_scenario(&mut conn, NOOP, &project.full, false).await;
    sync_scenario(&mut conn, NOOP_GZIP, &project.full, true).await;
    sync_scenario(&mut conn, REFRESHED, &project.refreshed, false).await;
    // Generated from the refreshed snapshot: 5/2/3 % against what that run stored.
    sync_scenario(&mut conn, CHANGE, &project.changed, false).await;
    out.push(copy_floor(&mut conn, (n, run), &exported).await);
    conn.close().await.ok();
    db.drop().await;
    for (_, path) in exported {
        let _ = std::fs::remove_file(path);
    }

    let (import_db, importer, mut conn) = migrated(setup, &format!("{n}_{run}_import"), &api).await;
    let path = |g: &Generated| g.path.to_string_lossy().into_owned();
    let (installations, connections, provider_apps) = (
        path(&project.full.installations),
        path(&project.full.connections),
        path(&project.full.provider_apps),
    );
    let import = [
        "import",
        &installations,
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-01-01T00:00:00Z",
        "--connections-file",
        &connections,
        "--provider-apps-file",
        &provider_apps,
    ];
    let sizes = project.full.sizes(false);
    out.push(measure(&mut conn, &importer, (n, run), IMPORT, &import, sizes).await);
    conn.close().await.ok();
    import_db.drop().await;
    out
}

/// A new database migrated by `ampsync migrate`, the binary set to use it and `api`, and
/// a connection to it.
async fn migrated<'a>(
    setup: &Setup<'a>,
    suffix: &str,
    api: &FakeApi,
) -> (Database, Ampsync<'a>, PgConnection) {
    let db = Database::create(setup.admin_url, suffix).await;
    let ampsync = Ampsync {
        launcher: setup.launcher,
        binary: setup.binary.path.clone(),
        database_url: db.url.clone(),
        api_url: api.url.clone(),
        // Not `--operations off`: 0.3.1 (`AMPSYNC_BENCH_BIN`) has no such flag.
        env: vec![("AMPSYNC_OPERATIONS", "off")],
    };
    ampsync.run(&["migrate"], None).expect("ampsync migrate");
    let conn = PgConnection::connect(&db.url)
        .await
        .expect("bench database");
    (db, ampsync, conn)
}

/// Runs one scenario, settled first: its wall time, rows written, peak RSS and phases.
/// `bytes` is what it reads.
async fn measure(
    conn: &mut PgConnection,
    ampsync: &Ampsync<'_>,
    (n, run): (usize, usize),
    name: &'static str,
    args: &[&str],
    bytes: BodySizes,
) -> Measured {
    settle(conn).await;
    let before = rows_written(conn, "ampersand", None).await;
    eprintln!("   {name} ...");
    let child = ampsync
        .run(args, Some(&format!("{n} {name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let rows = stable_rows_written(conn, "ampersand", None).await - before;
    let phases = Phases::from_log(&child.log);
    eprintln!(
        "   {name}: {:.2}s, {rows} rows, {:.1} MB peak RSS, {:.1} MB temporary files; {}",
        child.wall.as_secs_f64(),
        child.peak_rss as f64 / 1e6,
        phases.temp_bytes as f64 / 1e6,
        child.stdout.trim()
    );
    Measured {
        n,
        run,
        scenario: name,
        wall: child.wall,
        rows,
        peak_rss: Some(child.peak_rss),
        phases: Some(phases),
        bytes,
    }
}

/// Where a run's time went, from its log (`RUST_LOG=ampsync=debug`): reading the
/// installations (`fetched` or `read` with `installations`), reading the lists
/// (`fetched` or `read` with `list`), loading the index (`index loaded`), comparing
/// (`planned`), writing (`applied`); and its temporary files.
#[derive(Default, Clone, Copy)]
struct Phases {
    read: f64,
    /// None when the log does not say (no list line, or none after a timed read).
    lists: Option<f64>,
    load_index: f64,
    compare: f64,
    write: f64,
    temp_bytes: u64,
}

impl Phases {
    fn from_log(log: &str) -> Phases {
        let mut phases = Phases::default();
        // When the last read (the installations or a list) ended: a list line without
        // `seconds` took the time since then.
        let mut read_ended: Option<chrono::DateTime<chrono::FixedOffset>> = None;
        for line in log.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let at = event["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let seconds = event["seconds"].as_f64();
            match event["message"].as_str().unwrap_or_default() {
                "fetched" | "read" if event["installations"].is_u64() => {
                    phases.read += seconds.unwrap_or(0.0);
                    read_ended = at;
                }
                "fetched" | "read" if event["list"].is_string() => {
                    let since = match (read_ended, at) {
                        (Some(from), Some(to)) => {
                            Some((to - from).num_microseconds().unwrap_or(0) as f64 / 1e6)
                        }
                        _ => None,
                    };
                    if let Some(s) = seconds.or(since) {
                        phases.lists = Some(phases.lists.unwrap_or(0.0) + s);
                    }
                    read_ended = at;
                }
                "index loaded" => phases.load_index += seconds.unwrap_or(0.0),
                "planned" => phases.compare += seconds.unwrap_or(0.0),
                "applied" => phases.write += seconds.unwrap_or(0.0),
                "snapshot read" => {
                    phases.temp_bytes = phases
                        .temp_bytes
                        .max(event["temp_bytes"].as_u64().unwrap_or(0))
                }
                _ => {}
            }
        }
        phases
    }
}

// ---------------------------------------------------------------------------------------
// Data: a project, deterministic, written straight to files.
//
// Installations 4g..4g+3 belong to group g (a customer) and use the four integrations;
// installations 2c and 2c+1 share connection c (one per group and provider); consumer
// g/2 made the connections of groups 2k and 2k+1; two provider apps serve everything.
// The connections list holds connections 0 to 0.8 × N: those past the installed ones
// are customers who connected but installed nothing (yet), in groups and consumers of
// their own by the same rule. Each installation has its own config, as heavy as real
// ones: 2 to 5 read objects with their field lists, field and value mappings, filters
// and backfill; 1 to 3 write objects with field settings; a subscribe object now and
// then (3 to 7 KB of `content`).

/// The state of the project a snapshot shows.
#[derive(Clone, Copy)]
struct Variant {
    /// A third of the connections carry refreshed tokens (see `refreshed_tokens`).
    refreshed: bool,
    /// 5% of installations changed, 2% removed, 3% new.
    changed: bool,
}

/// A generated response body on disk, with its size; `gzip` also gzip-encoded.
#[derive(Clone)]
struct Generated {
    path: PathBuf,
    bytes: u64,
    gzip: Option<(PathBuf, u64)>,
}

/// One snapshot's three list responses.
struct Snapshot {
    installations: Generated,
    connections: Generated,
    provider_apps: Generated,
}

impl Snapshot {
    /// What the fake API answers for it, gzip-encoded where asked and it has a copy.
    fn served(&self, gzip: bool) -> Served {
        let file = |g: &Generated| ServedFile {
            json: g.path.clone(),
            gzip: g.gzip.as_ref().filter(|_| gzip).map(|(p, _)| p.clone()),
        };
        Served {
            installations: file(&self.installations),
            connections: file(&self.connections),
            provider_apps: file(&self.provider_apps),
        }
    }

    fn sizes(&self, gzip: bool) -> BodySizes {
        let json = self.installations.bytes;
        BodySizes {
            body: match &self.installations.gzip {
                Some((_, bytes)) if gzip => *bytes,
                _ => json,
            },
            json,
            lists: self.connections.bytes + self.provider_apps.bytes,
        }
    }
}

/// The three snapshots of a size: as first synced, with refreshed tokens, and changed.
struct Project {
    n: usize,
    full: Snapshot,
    refreshed: Snapshot,
    changed: Snapshot,
}

impl Project {
    /// Writes every file into `dir`, on as many threads as there are files.
    fn generate(n: usize, dir: &Path) -> Project {
        eprintln!("== N = {n}: generating snapshots in {}", dir.display());
        let file = |name: &str| dir.join(format!("{name}-{n}.json"));
        let full = Variant {
            refreshed: false,
            changed: false,
        };
        let refreshed = Variant {
            refreshed: true,
            changed: false,
        };
        let changed = Variant {
            refreshed: true,
            changed: true,
        };
        let project = std::thread::scope(|s| {
            let installations = |name: &str, state, gzip| {
                let path = file(name);
                s.spawn(move || write_array(path, gzip, installations(n, state)))
            };
            let connections = |name: &str, state, gzip| {
                let path = file(name);
                s.spawn(move || write_array(path, gzip, connections(n, state)))
            };
            let full_installations = installations("installations", full, true);
            let refreshed_installations = installations("refreshed", refreshed, false);
            let changed_installations = installations("changed", changed, false);
            let full_connections = connections("connections", full, true);
            // The change leaves the connections as the refreshed run stored them.
            let refreshed_connections = connections("refreshed-connections", refreshed, false);
            let provider_apps = write_array(
                file("provider-apps"),
                true,
                PROVIDERS.iter().map(|p| provider_app(p)),
            );
            let join =
                |h: std::thread::ScopedJoinHandle<'_, Generated>| h.join().expect("generator");
            let refreshed_connections = join(refreshed_connections);
            Project {
                n,
                full: Snapshot {
                    installations: join(full_installations),
                    connections: join(full_connections),
                    provider_apps: provider_apps.clone(),
                },
                refreshed: Snapshot {
                    installations: join(refreshed_installations),
                    connections: refreshed_connections.clone(),
                    provider_apps: provider_apps.clone(),
                },
                changed: Snapshot {
                    installations: join(changed_installations),
                    connections: refreshed_connections,
                    provider_apps,
                },
            }
        });
        let mb = |b: u64| b as f64 / 1e6;
        let gz = |g: &Generated| g.gzip.as_ref().map_or(0, |(_, b)| *b);
        eprintln!(
            "   installations {:.1} MB ({:.2} KB per installation), {:.1} MB gzip-encoded; connections list {:.1} MB ({} connections), {:.1} MB gzip-encoded; refreshed {:.1} MB, changed {:.1} MB",
            mb(project.full.installations.bytes),
            project.full.installations.bytes as f64 / n as f64 / 1e3,
            mb(gz(&project.full.installations)),
            mb(project.full.connections.bytes),
            connection_count(n),
            mb(gz(&project.full.connections)),
            mb(project.refreshed.installations.bytes),
            mb(project.changed.installations.bytes),
        );
        project
    }

    /// Removes the generated files.
    fn remove_files(&self) {
        let snapshots = [&self.full, &self.refreshed, &self.changed];
        for g in snapshots
            .iter()
            .flat_map(|s| [&s.installations, &s.connections, &s.provider_apps])
        {
            let _ = std::fs::remove_file(&g.path);
            if let Some((gz, _)) = &g.gzip {
                let _ = std::fs::remove_file(gz);
            }
        }
    }
}

/// The installations of a snapshot in `state`, in order.
fn installations(n: usize, state: Variant) -> impl Iterator<Item = Value> {
    let kept = (0..n)
        .filter(move |i| !(state.changed && i % 50 == 7)) // 2% removed
        .map(move |i| installation(i, state.changed && i % 20 == 3, state)); // 5% changed
    let new = if state.changed {
        n..n + n * 3 / 100
    } else {
        n..n
    }; // 3% new
    kept.chain(new.map(move |i| installation(i, false, state)))
}

/// How many connections the project has: those the installations use (`i / 2`) and as
/// many again "connected, not installed", 0.8 × N in all.
fn connection_count(n: usize) -> usize {
    (n * 4 / 5).max(n.div_ceil(2))
}

/// The connections list of a snapshot in `state`: every connection, installed or not,
/// each as the installations embed it. The 3% new installations of a change use
/// connections that were in the list already.
fn connections(n: usize, state: Variant) -> impl Iterator<Item = Value> {
    (0..connection_count(n)).map(move |c| connection(c, state))
}

/// Writes `elements` to `path` as one JSON array, one element at a time, so that memory
/// does not grow with N; with `gzip`, also a gzip-encoded copy next to it.
fn write_array(path: PathBuf, gzip: bool, elements: impl Iterator<Item = Value>) -> Generated {
    use std::io::BufWriter;
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("bench file"));
    let gz_path = path.with_extension("json.gz");
    // Level 1, nginx's default `gzip_comp_level`.
    let mut gz = gzip.then(|| {
        let file = std::fs::File::create(&gz_path).expect("bench file");
        flate2::write::GzEncoder::new(
            BufWriter::with_capacity(1 << 20, file),
            flate2::Compression::new(1),
        )
    });
    let mut out = Counting {
        inner: file,
        bytes: 0,
    };
    let mut write = |piece: &[u8]| {
        out.write_all(piece).expect("writing a bench file");
        if let Some(gz) = &mut gz {
            gz.write_all(piece).expect("writing a bench file");
        }
    };
    write(b"[");
    let mut element = Vec::with_capacity(16 * 1024);
    for (k, value) in elements.enumerate() {
        element.clear();
        if k > 0 {
            element.push(b',');
        }
        serde_json::to_writer(&mut element, &value).expect("JSON");
        write(&element);
    }
    write(b"]");
    out.flush().expect("writing a bench file");
    let gzip = gz.map(|gz| {
        gz.finish().expect("gzip").flush().expect("gzip");
        let bytes = std::fs::metadata(&gz_path).expect("gzip file").len();
        (gz_path, bytes)
    });
    Generated {
        path,
        bytes: out.bytes,
        gzip,
    }
}

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

const OBJECTS: [&str; 10] = [
    "account",
    "contact",
    "opportunity",
    "lead",
    "campaign",
    "task",
    "event",
    "case",
    "quote",
    "contract",
];
const FIELDS: [&str; 16] = [
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
    "lastmodifieddate",
    "createddate",
    "stagename",
    "leadsource",
];

/// The `i`-th field name of an object: standard fields, then custom ones.
fn field(i: u64) -> String {
    match FIELDS.get(i as usize) {
        Some(name) => (*name).to_owned(),
        None => format!("Custom_Field_{}__c", i - FIELDS.len() as u64),
    }
}

/// A config's `content`, as a builder's UI writes it: read objects with field lists,
/// mappings, filters and backfill; write objects with field settings.
fn config_content(i: usize, provider: &str, changed: bool) -> Value {
    let r = mix(i, 1);
    let read: serde_json::Map<String, Value> = (0..2 + (r % 3) as usize)
        .map(|k| {
            let object = OBJECTS[(r as usize + k) % OBJECTS.len()];
            let m = mix(i, 10 + k as u64);
            let fields: serde_json::Map<String, Value> = (0..6 + m % 11)
                .map(|f| (field((f + k as u64) % 28), json!(true)))
                .collect();
            let mappings: serde_json::Map<String, Value> = (0..3 + m % 6)
                .map(|f| (format!("{object}_{}", field(f + 3)), json!(field((f * 7 + m) % 28))))
                .collect();
            let schedule = if changed && k == 0 { "*/30 * * * *" } else { "*/15 * * * *" };
            (
                object.to_owned(),
                json!({
                    "objectName": object, "schedule": schedule,
                    "destination": format!("{object}Webhook"),
                    "selectedFields": fields,
                    "selectedFieldMappings": mappings,
                    "selectedValueMappings": {
                        "stagename": {"open": "Prospecting", "won": "Closed Won", "lost": "Closed Lost"},
                        "rating": {"hot": "Hot", "warm": "Warm", "cold": "Cold"}
                    },
                    "fieldFilters": [{"fieldName": "type", "operator": "eq", "value": "Customer"}],
                    "backfill": if m.is_multiple_of(4) { json!({"fullHistory": true}) } else { json!({"defaultPeriod": {"days": 30 + m % 60}}) }
                }),
            )
        })
        .collect();
    let write: serde_json::Map<String, Value> = (0..1 + (r / 7 % 2) as usize)
        .map(|k| {
            let object = OBJECTS[(r as usize / 3 + k) % OBJECTS.len()];
            let settings: serde_json::Map<String, Value> = (0..2 + mix(i, 20 + k as u64) % 4)
                .map(|f| {
                    (
                        field(f + 2),
                        json!({"default": {"stringValue": format!("default-{object}-{f}")},
                               "writeOnCreate": "always", "writeOnUpdate": "ifEmpty"}),
                    )
                })
                .collect();
            (
                object.to_owned(),
                json!({"objectName": object, "selectedFieldSettings": settings,
                       "deletionSettings": {"enabled": k == 0}}),
            )
        })
        .collect();
    let subscribe = if r.is_multiple_of(4) {
        json!({"objects": {"account": {"objectName": "account", "destination": "accountWebhook",
                                       "inheritFieldsAndMappings": true}}})
    } else {
        json!({"objects": {}})
    };
    json!({
        "provider": provider,
        "read": {"objects": read},
        "write": {"objects": write},
        "proxy": {"enabled": true},
        "subscribe": subscribe
    })
}

fn installation(i: usize, changed: bool, state: Variant) -> Value {
    let c = i / 2;
    let g = i / 4;
    let provider = PROVIDERS[c % 2];
    let integration = format!("int-{provider}-{}", i % 2);
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
        "createdBy": format!("consumer:{}", consumer_ref(g / 2)),
        "group": group(g),
        "connection": connection(c, state),
        "config": {
            "id": format!("cfg-{i:07}"),
            "revisionId": format!("rev-{provider}-{}{}", i % 2, if changed { "b" } else { "" }),
            "createTime": created,
            "createdBy": "builder:bld-3",
            "content": config_content(i, provider, changed)
        }
    })
}

fn group(g: usize) -> Value {
    json!({
        "groupRef": format!("grp-{g:06}"), "groupName": format!("Customer {g} GmbH"),
        "projectId": PROJECT_ID,
        "createTime": time(mix(g, 2) % 300, mix(g, 3)), "updateTime": time(mix(g, 2) % 300 + 1, mix(g, 4))
    })
}

fn consumer_ref(k: usize) -> String {
    format!("user-{k:06}")
}

/// Whether connection `c` carries refreshed tokens in `state`: a third of them, spread
/// over the project by a hash.
fn refreshed_tokens(c: usize, state: Variant) -> bool {
    state.refreshed && mix(c, 40).is_multiple_of(3)
}

/// Connection `c` of group `c / 2`, made by consumer `c / 4`; the same wherever it
/// appears (embedded in an installation or in the connections list).
fn connection(c: usize, state: Variant) -> Value {
    let g = c / 2;
    let provider = PROVIDERS[c % 2];
    let issued = time(mix(c, 14) % 300, mix(c, 15));
    let (access_token, access_issued, access_expires, refresh_issued) =
        if refreshed_tokens(c, state) {
            let refreshed = time(300 + mix(c, 42) % 20, mix(c, 43));
            (
                format!(
                    "00D5g000004Sn{c:07}!AQ4AQGkT3y{}Rb8Nn2Wc6Xd1Ye5Zf9Ag3Bh7Ci0DjU2sF",
                    mix(c, 41) % 1000
                ),
                refreshed.clone(),
                time(300 + mix(c, 42) % 20 + 1, mix(c, 43)),
                refreshed,
            )
        } else {
            (
                format!(
                    "00D5g000004Sn{c:07}!AQ4AQFjR8x{}Kp2Lm9Vq7Ws3Xt6Yu1Zb4Nc8Md5Ge0HfT1rE",
                    mix(c, 13) % 1000
                ),
                issued.clone(),
                time(mix(c, 14) % 300 + 1, mix(c, 15)),
                issued,
            )
        };
    json!({
        "id": format!("conn-{c:07}"),
        "projectId": PROJECT_ID,
        "provider": provider,
        "group": group(g),
        "consumer": {
            "consumerRef": consumer_ref(g / 2), "consumerName": format!("Person {}", g / 2),
            "projectId": PROJECT_ID, "createTime": time(mix(g / 2, 8) % 300, 0),
            "updateTime": time(mix(g / 2, 8) % 300, 1)
        },
        "createTime": time(mix(c, 9) % 300, mix(c, 11)),
        "updateTime": time(mix(c, 9) % 300 + 2, mix(c, 12)),
        "authScheme": "oauth2/authorizationCode",
        "status": "working",
        "providerApp": provider_app(provider),
        "providerWorkspaceRef": format!("workspace-{c}"),
        "providerConsumerRef": format!("005Hs0000{c:07}"),
        "oauth2AuthorizationCode": {
            "accessToken": {
                "token": access_token,
                "issuedAt": access_issued,
                "expiresAt": access_expires
            },
            "refreshToken": {
                "token": format!("5Aep861TSESvWeug_ztpnAk6BGQxRdovMLhHso6MoZqdrLFxJ0w{c:07}"),
                "issuedAt": refresh_issued,
                "expiresAt": time(mix(c, 14) % 300 + 180, mix(c, 15))
            },
            "scopes": ["api", "refresh_token", "offline_access"]
        },
        "providerMetadata": {"instanceUrl": {"value": format!("https://c{c}.my.salesforce.com"), "source": "provider"}}
    })
}

/// The provider app of `provider`, as embedded in its connections and in the
/// provider-apps list.
fn provider_app(provider: &str) -> Value {
    json!({
        "id": format!("papp-{provider}"), "projectId": PROJECT_ID, "provider": provider,
        "clientId": format!("3MVG9{provider}ClientId"), "externalRef": "ext-1",
        "scopes": [["api", "refresh_token", "offline_access"]],
        "metadata": {"providerParams": {"client_secret": format!("cs_{provider}_8Zq4Lr2Xv7Nw1Pt5Ks9Hd3Jm")}},
        "createTime": "2023-11-07T05:31:56Z", "updateTime": "2023-11-07T05:31:56Z"
    })
}

// ---------------------------------------------------------------------------------------
// The fake API: one project, four integrations, and the three lists as generated, each
// streamed from its file; gzip-encoded, when it has a gzip copy and the client asks.

/// A body served: its file, and its gzip-encoded copy.
#[derive(Clone)]
struct ServedFile {
    json: PathBuf,
    gzip: Option<PathBuf>,
}

/// What the list endpoints answer.
#[derive(Clone)]
struct Served {
    installations: ServedFile,
    connections: ServedFile,
    provider_apps: ServedFile,
}

type Shared = Arc<Mutex<Served>>;

struct FakeApi {
    served: Shared,
    url: String,
}

impl FakeApi {
    async fn start(served: Served) -> FakeApi {
        let state = Arc::new(Mutex::new(served));
        let base = format!("/v1/projects/{PROJECT_ID}");
        let app = project_routes()
            .route(
                &format!("{base}/installations"),
                list_route(|s| &s.installations),
            )
            .route(
                &format!("{base}/connections"),
                list_route(|s| &s.connections),
            )
            .route(
                &format!("{base}/provider-apps"),
                list_route(|s| &s.provider_apps),
            )
            .with_state(state.clone());
        let url = serve(app).await;
        FakeApi { served: state, url }
    }

    /// From now on, answers the list requests from `served`.
    fn serve(&self, served: Served) {
        *self.served.lock().expect("lock") = served;
    }
}

/// A list endpoint answering with the file `pick` chooses, streamed; its gzip copy when
/// it has one and the client accepts gzip.
fn list_route(pick: fn(&Served) -> &ServedFile) -> MethodRouter<Shared> {
    get(
        move |State(served): State<Shared>, headers: HeaderMap| async move {
            let file = pick(&served.lock().expect("lock")).clone();
            let accepts_gzip = headers
                .get("accept-encoding")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("gzip"));
            match file.gzip.filter(|_| accepts_gzip) {
                Some(gzip) => {
                    let mut resp = json_body(file_body(gzip).await);
                    resp.headers_mut()
                        .insert("content-encoding", HeaderValue::from_static("gzip"));
                    resp
                }
                None => json_body(file_body(file.json).await),
            }
        },
    )
}

/// A file's bytes as a streamed body, in pieces of 256 KB.
async fn file_body(path: PathBuf) -> Body {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(&path).await.expect("a bench file");
    let pieces = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut piece = vec![0; 256 * 1024];
        match file.read(&mut piece).await {
            Ok(0) => None,
            Ok(n) => {
                piece.truncate(n);
                Some((Ok(Bytes::from(piece)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(pieces)
}

async fn export(conn: &mut PgConnection, dir: &Path) -> Vec<(String, PathBuf)> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    for table in TABLES {
        for name in [table.to_owned(), format!("{table}_history")] {
            let path = dir.join(format!("floor-{name}.copy"));
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(&path).expect("a bench file"));
            let mut stream = conn
                .copy_out_raw(&format!("COPY ampersand.{name} TO STDOUT"))
                .await
                .expect("COPY TO");
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk.expect("COPY data"))
                    .expect("writing a bench file");
            }
            drop(stream);
            file.flush().expect("writing a bench file");
            out.push((name, path));
        }
    }
    out
}

/// The exported rows loaded with plain COPY into empty tables of the same schema
/// (columns, keys, indexes, constraints), in one transaction.
async fn copy_floor(
    conn: &mut PgConnection,
    (n, run): (usize, usize),
    exported: &[(String, PathBuf)],
) -> Measured {
    use std::io::Read;
    sqlx::query("CREATE SCHEMA floor")
        .execute(&mut *conn)
        .await
        .expect("schema floor");
    for (name, _) in exported {
        sqlx::query(&format!(
            "CREATE TABLE floor.{name} (LIKE ampersand.{name} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await
        .expect("floor table");
    }
    settle(conn).await;
    let before = rows_written(conn, "floor", None).await;
    eprintln!("   {FLOOR} ...");
    let started = Instant::now();
    let mut tx = conn.begin().await.expect("begin");
    let mut chunk = vec![0; 1 << 20];
    for (name, path) in exported {
        let mut file = std::fs::File::open(path).expect("a bench file");
        let mut copy = tx
            .copy_in_raw(&format!("COPY floor.{name} FROM STDIN"))
            .await
            .expect("COPY FROM");
        loop {
            let n = file.read(&mut chunk).expect("reading a bench file");
            if n == 0 {
                break;
            }
            copy.send(&chunk[..n]).await.expect("COPY data");
        }
        copy.finish().await.expect("COPY finish");
    }
    tx.commit().await.expect("commit");
    let wall = started.elapsed();
    let rows = stable_rows_written(conn, "floor", None).await - before;
    eprintln!("   {FLOOR}: {:.2}s, {rows} rows", wall.as_secs_f64());
    Measured {
        n,
        run,
        scenario: FLOOR,
        wall,
        rows,
        peak_rss: None,
        phases: None,
        bytes: BodySizes::default(),
    }
}

// ---------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------
// The report.

/// Every table: each scenario against the floor and the full sync of its size (and
/// run); where each scenario's time went; then, for each size, issue 21's targets.
fn report(results: &[Measured], binary: &Binary) -> String {
    let runs = results.iter().map(|m| m.run).max().unwrap_or(1);
    // With several runs, each row says which.
    let (run_head, run_rule) = if runs > 1 {
        ("run | ", "---:|")
    } else {
        ("", "")
    };
    let run_cell = |m: &Measured| {
        if runs > 1 {
            format!("{} | ", m.run)
        } else {
            String::new()
        }
    };
    let mut out = format!("binary: {} ({})\n\n", binary.path, binary.version);
    let _ = write!(
        out,
        "| N | {run_head}scenario | wall time | rows written | peak RSS | temp files | × COPY floor | × full sync |\n\
         |---:|{run_rule}---|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let to_full = if [FULL, FLOOR, IMPORT].contains(&m.scenario) {
            "–".into()
        } else {
            ratio_cell(wall_of(results, m, FULL))
        };
        let _ = writeln!(
            out,
            "| {} | {}{} | {:.2} s | {} | {} | {} | {} | {} |",
            m.n,
            run_cell(m),
            m.scenario,
            m.wall.as_secs_f64(),
            m.rows,
            m.peak_rss.map_or("–".into(), mb),
            m.phases.map_or("–".into(), |p| mb(p.temp_bytes)),
            if m.scenario == FLOOR {
                "1.00".into()
            } else {
                ratio_cell(wall_of(results, m, FLOOR))
            },
            to_full,
        );
    }
    let _ = write!(
        out,
        "\n| N | {run_head}scenario | body | reading the response | JSON read | lists | lists read | load index | compare | write | other |\n\
         |---:|{run_rule}---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let Some(p) = m.phases else { continue };
        let lists = p.lists.unwrap_or(0.0);
        let other = m.wall.as_secs_f64() - p.read - lists - p.load_index - p.compare - p.write;
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {:.2} s | {:.0} MB/s | {} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
            m.n,
            run_cell(m),
            m.scenario,
            mb(m.bytes.body),
            p.read,
            m.bytes.json as f64 / 1e6 / p.read.max(1e-9),
            p.lists.map_or("–".into(), |s| format!("{s:.2} s")),
            lists_rate(m).map_or("–".into(), |r| format!("{r:.0} MB/s")),
            p.load_index,
            p.compare,
            p.write,
            other.max(0.0),
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
    let mut sizes: Vec<usize> = results.iter().map(|m| m.n).collect();
    sizes.dedup();
    for n in sizes {
        out.push('\n');
        out.push_str(&targets(results, n, runs));
    }
    let _ = std::io::stdout().flush();
    out
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The wall time of scenario `name` in `m`'s size and run.
fn wall_of(results: &[Measured], m: &Measured, name: &str) -> Option<(f64, f64)> {
    results
        .iter()
        .find(|r| r.n == m.n && r.run == m.run && r.scenario == name)
        .map(|r| (m.wall.as_secs_f64(), r.wall.as_secs_f64()))
}

fn ratio_cell(walls: Option<(f64, f64)>) -> String {
    match walls {
        Some((a, b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

/// MB/s of JSON the installations were read at.
fn read_rate(m: &Measured) -> Option<f64> {
    let p = m.phases?;
    (p.read > 0.0 && m.bytes.json > 0).then(|| m.bytes.json as f64 / 1e6 / p.read)
}

/// MB/s of JSON the two lists were read at.
fn lists_rate(m: &Measured) -> Option<f64> {
    let seconds = m.phases?.lists?;
    (seconds > 0.0 && m.bytes.lists > 0).then(|| m.bytes.lists as f64 / 1e6 / seconds)
}

/// One row of the target table: its value in each run, the best first.
struct Figure {
    name: String,
    target: String,
    /// Whether more is better (MB/s) or less (times, memory).
    higher_is_better: bool,
    limit: f64,
    show: fn(f64) -> String,
    /// Each run's value, with a remark on what it comes from.
    values: Vec<(f64, String)>,
}

impl Figure {
    fn row(mut self) -> String {
        let better = |a: &f64, b: &f64| {
            let order = a.total_cmp(b);
            if self.higher_is_better {
                order.reverse()
            } else {
                order
            }
        };
        self.values.sort_by(|a, b| better(&a.0, &b.0));
        let Some((best, remark)) = self.values.first() else {
            return format!("| {} | – | {} | not measured | |\n", self.name, self.target);
        };
        let mut measured = (self.show)(*best);
        if self.values.len() > 1 {
            let others: Vec<String> = self.values[1..]
                .iter()
                .map(|(v, _)| (self.show)(*v))
                .collect();
            let _ = write!(measured, " ({})", others.join(", "));
        }
        let holds = if self.higher_is_better {
            *best >= self.limit
        } else {
            *best <= self.limit
        };
        format!(
            "| {} | {measured} | {} | {} | {remark} |\n",
            self.name,
            self.target,
            if holds { "holds" } else { "missed" },
        )
    }
}

/// Issue 21's target table at size `n`: each figure's best run and, in parentheses,
/// the others.
fn targets(results: &[Measured], n: usize, runs: usize) -> String {
    let mut run_ids: Vec<usize> = results.iter().filter(|m| m.n == n).map(|m| m.run).collect();
    run_ids.dedup();
    let ratio: fn(f64) -> String = |x| format!("{x:.2} ×");
    let rate: fn(f64) -> String = |x| format!("{x:.0} MB/s");
    let size: fn(f64) -> String = |x| format!("{:.1} MB", x / 1e6);
    let figure = |name: &str, target: &str, higher_is_better, limit, show| Figure {
        name: name.to_owned(),
        target: target.to_owned(),
        higher_is_better,
        limit,
        show,
        values: Vec::new(),
    };
    let change_limit = if n >= 1_000_000 { 0.30 } else { 0.25 };
    let mut figures = [
        figure(
            "reading the response, MB/s of JSON (slowest scenario)",
            "≥ 400 MB/s",
            true,
            400.0,
            rate,
        ),
        figure(
            "reading the lists, MB/s of JSON (slowest scenario)",
            "≥ 400 MB/s, as the installations",
            true,
            400.0,
            rate,
        ),
        figure("no-op vs full sync", "≤ 0.08 ×", false, 0.08, ratio),
        figure(
            "no-op with a third of tokens refreshed vs full sync",
            "≤ 0.12 ×",
            false,
            0.12,
            ratio,
        ),
        figure(
            "5/2/3 % change vs full sync",
            &format!("≤ {change_limit:.2} ×"),
            false,
            change_limit,
            ratio,
        ),
        figure(
            "full sync vs single-stream COPY floor",
            "≤ 1.0 ×",
            false,
            1.0,
            ratio,
        ),
        figure(
            "peak RSS, sync (largest scenario)",
            "≤ 100 MB",
            false,
            100e6,
            size,
        ),
        figure("peak RSS, import", "≤ 100 MB", false, 100e6, size),
    ];
    for run in run_ids {
        let of_run: Vec<&Measured> = results
            .iter()
            .filter(|m| m.n == n && m.run == run)
            .collect();
        let wall = |name: &str| {
            of_run
                .iter()
                .find(|m| m.scenario == name)
                .map(|m| m.wall.as_secs_f64())
        };
        let slowest = |rate_of: fn(&Measured) -> Option<f64>| {
            let rates: Vec<(f64, &str)> = of_run
                .iter()
                .filter_map(|m| rate_of(m).map(|r| (r, m.scenario)))
                .collect();
            let min = rates.iter().copied().min_by(|a, b| a.0.total_cmp(&b.0))?;
            let max = rates.iter().map(|r| r.0).fold(f64::MIN, f64::max);
            Some((min.0, format!("slowest: {}; fastest {max:.0} MB/s", min.1)))
        };
        let installations = slowest(read_rate);
        let lists = slowest(lists_rate).map(|(rate, remark)| match &installations {
            Some((i, _)) => (
                rate,
                format!("{remark}; {:.2} × the installations'", rate / i),
            ),
            None => (rate, remark),
        });
        let to = |a: &str, b: &str| match (wall(a), wall(b)) {
            (Some(a), Some(b)) if b > 0.0 => Some((a / b, String::new())),
            _ => None,
        };
        let largest = |sync: bool| {
            of_run
                .iter()
                .filter(|m| (m.scenario == IMPORT) != sync)
                .filter_map(|m| m.peak_rss.map(|p| (p as f64, m.scenario)))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(p, scenario)| {
                    (
                        p,
                        if sync {
                            format!("largest: {scenario}")
                        } else {
                            String::new()
                        },
                    )
                })
        };
        let values = [
            installations,
            lists,
            to(NOOP, FULL),
            to(REFRESHED, FULL),
            to(CHANGE, FULL),
            to(FULL, FLOOR),
            largest(true),
            largest(false),
        ];
        for (figure, value) in figures.iter_mut().zip(values) {
            figure.values.extend(value);
        }
    }
    let mut out = if runs > 1 {
        format!("Issue 21's targets at N = {n}: best of {runs} runs, the others in parentheses\n\n")
    } else {
        format!("Issue 21's targets at N = {n}\n\n")
    };
    out.push_str("| figure | measured | target | | |\n|---|---:|---:|---|---|\n");
    for figure in figures {
        out.push_str(&figure.row());
    }
    out
}
