//! `spawn_app()`: a uniquely named database (dropped afterwards) and a fake Ampersand
//! API on a local port, plus a runner for the `ampsync` binary.

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};

use super::fake_api::{FakeApi, API_KEY};
use super::process::Run;

/// The PostgreSQL server the suite runs against, as `host:port`: `AMPSYNC_TEST_SERVER`,
/// else the local server. Tests create and drop databases of their own on it.
pub fn server() -> String {
    std::env::var("AMPSYNC_TEST_SERVER").unwrap_or_else(|_| "127.0.0.1:5432".into())
}

/// The URL of database `db` on the test server, as `login` (trust auth).
pub fn database_url(login: &str, db: &str) -> String {
    format!("postgres://{login}@{}/{db}", server())
}

/// The test server's `postgres` database, as the superuser.
pub fn admin_url() -> String {
    database_url("postgres", "postgres")
}

/// A local port nothing listens on (the listener that found it is closed again).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The Python that `scripts/test` prepares, with the packages of `tests/requirements.txt`.
pub fn test_python() -> String {
    std::env::var("AMPSYNC_TEST_PYTHON").expect(
        "AMPSYNC_TEST_PYTHON names a Python with tests/requirements.txt installed: run the suite with scripts/test",
    )
}

/// A PostgreSQL client program (`psql`, `pg_dump`): from the directory
/// `AMPSYNC_TEST_PG_BIN` names, else from `PATH`. A client older than the server cannot
/// dump it, so a run against a newer server names newer clients.
pub fn pg_tool(name: &str) -> std::path::PathBuf {
    match std::env::var_os("AMPSYNC_TEST_PG_BIN") {
        Some(dir) => std::path::Path::new(&dir).join(name),
        None => name.into(),
    }
}

/// A test's world: its database, its fake API, and the `ampsync` binary.
pub struct TestApp {
    pub db_name: String,
    pub database_url: String,
    pub pool: PgPool,
    pub api: FakeApi,
}

/// The standard project: see `fixtures`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(crate::fixtures::installations(0..30)).await
}

pub async fn spawn_app_with(installations: Value) -> TestApp {
    let db_name = format!("ampsync_test_{}", uuid_like());
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| panic!("Postgres runs at {} (AMPSYNC_TEST_SERVER): {e}", server()));
    sqlx::query(&format!("CREATE DATABASE {db_name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let database_url = database_url("postgres", &db_name);
    let pool = PgPool::connect(&database_url).await.unwrap();
    let api = FakeApi::start(
        crate::fixtures::project(),
        crate::fixtures::integrations(),
        installations,
    )
    .await;
    TestApp {
        db_name,
        database_url,
        pool,
        api,
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}_{:x}_{:04x}",
        nanos,
        std::process::id(),
        fastrand_u16()
    )
}

fn fastrand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl TestApp {
    /// Runs `ampsync ARGS` against this test's database and fake API, with JSON logs.
    pub async fn ampsync(&self, args: &[&str]) -> Run {
        self.ampsync_env(args, &[]).await
    }

    /// As `ampsync`, with extra environment variables (an empty value removes one).
    pub async fn ampsync_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Run(self
            .command(args, env)
            .output()
            .await
            .expect("the ampsync binary runs"))
    }

    /// As `ampsync`, with the process's umask set to `umask` (the files it creates
    /// get `0666` less it).
    pub async fn ampsync_umask(&self, umask: u32, args: &[&str]) -> Run {
        let mut cmd = self.command(args, &[]);
        // SAFETY: umask(2) is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask as libc::mode_t);
                Ok(())
            });
        }
        Run(cmd.output().await.expect("the ampsync binary runs"))
    }

    /// Starts `ampsync ARGS` without waiting for it; its output is piped.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        self.command(args, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the ampsync binary starts")
    }

    pub(super) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ampsync"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("AMPERSAND_API_URL", &self.api.url)
            .env("AMPERSAND_API_KEY", API_KEY)
            .env("AMPSYNC_LOG_FORMAT", "json")
            .env("AMPSYNC_RETRY_BASE_DELAY", "10ms")
            .kill_on_drop(true);
        for (name, value) in env {
            if value.is_empty() {
                cmd.env_remove(name);
            } else {
                cmd.env(name, value);
            }
        }
        cmd
    }

    /// `ampsync sync --project <fixture project>`, which must succeed.
    pub async fn sync(&self) -> Run {
        self.ampsync(&["sync", "--project", crate::fixtures::PROJECT_ID])
            .await
            .success()
    }

    /// Every `sync_runs` row: (id, project, status, error), oldest first.
    pub async fn runs(&self) -> Vec<(i64, String, String, Option<String>)> {
        sqlx::query_as("SELECT id, project, status, error FROM ampersand.sync_runs ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Every table's and history table's row count, and the newest `changed_at`.
    pub async fn fingerprint(&self) -> Value {
        let mut out = serde_json::Map::new();
        for table in TABLES {
            let (rows, changed): (i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
                &format!("SELECT count(*), max(changed_at) FROM ampersand.{table}"),
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            let history = self
                .count(&format!("SELECT count(*) FROM ampersand.{table}_history"))
                .await;
            out.insert(
                table.to_string(),
                json!({"rows": rows, "changed_at": changed, "history": history}),
            );
        }
        Value::Object(out)
    }

    /// `pg_dump` of schema `ampersand`, data included.
    pub async fn dump(&self) -> String {
        let out = tokio::process::Command::new(pg_tool("pg_dump"))
            .args(["--schema=ampersand", "--no-owner", &self.database_url])
            .output()
            .await
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The synced tables, from ampsync's catalog.
pub const TABLES: [&str; 8] = ampsync::catalog::Table::NAMES;

/// Runs `work` to its end on a thread and a runtime of its own: what a `Drop` that
/// cleans up in Postgres needs, since it runs outside any runtime's async context.
pub fn on_own_runtime<F>(work: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(work());
    })
    .join();
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let db_name = self.db_name.clone();
        on_own_runtime(move || async move {
            if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}
