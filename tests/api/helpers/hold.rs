//! Holding a run at a known moment, and seeing it from Postgres: a sync held mid-fetch
//! (its installations response gated after the first bytes, the project's lock taken),
//! a run held mid-apply (a test-held lock on `installations`), a probe that sees
//! ampsync's sessions wait on a lock or go; and the pending changes such a stopped run
//! was applying, with the state a later run converges to.

use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::fixtures::{installations, PROJECT_ID};

use super::app::{spawn_app, TestApp};
use super::fake_api::{Fault, Gate, Route};
use super::process::eventually;

/// How long a stopped run may take to exit (PRODUCT.md: promptly; the issue: 5 s).
pub const EXIT_PROMPTLY: Duration = Duration::from_secs(5);
/// A bound for runs that should simply finish.
pub const FINISHES: Duration = Duration::from_secs(60);

pub fn sync_args() -> [&'static str; 3] {
    ["sync", "--project", PROJECT_ID]
}

/// Starts a sync whose installations response is held open after its first bytes, and
/// returns once that run holds the project's lock.
pub async fn start_held_sync(app: &TestApp, gate: &Gate) -> tokio::process::Child {
    start_held_sync_env(app, gate, &[]).await
}

/// As [`start_held_sync`], with extra environment variables.
pub async fn start_held_sync_env(
    app: &TestApp,
    gate: &Gate,
    env: &[(&str, &str)],
) -> tokio::process::Child {
    app.api.fail(
        Route::Installations,
        Fault::Gated {
            keep: 2_000,
            gate: gate.clone(),
        },
        1,
    );
    let asked = app.api.count(Route::Installations);
    let child = app.spawn(&sync_args(), env);
    let api = app.api.clone();
    eventually("the run is reading installations", move || {
        let api = api.clone();
        async move { api.count(Route::Installations) > asked }
    })
    .await;
    child
}

/// The database and its name, for probes run from a spawned task.
#[derive(Clone)]
pub struct Probe {
    pub pool: sqlx::PgPool,
    pub db_name: String,
}

impl TestApp {
    pub fn probe(&self) -> Probe {
        Probe {
            pool: self.pool.clone(),
            db_name: self.db_name.clone(),
        }
    }
}

/// True while one of ampsync's sessions on this database waits for a lock.
pub async fn waiting_on_lock(probe: &Probe) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ampsync' AND wait_event_type = 'Lock'",
    )
    .bind(&probe.db_name)
    .fetch_one(&probe.pool)
    .await
    .unwrap();
    n > 0
}

/// True once no session of ampsync is left on this database.
pub async fn job_gone(probe: &Probe) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ampsync'",
    )
    .bind(&probe.db_name)
    .fetch_one(&probe.pool)
    .await
    .unwrap();
    n == 0
}

/// A test-held lock on `installations`, so a run's apply blocks after writing the
/// tables before it: the moment a run is "mid-apply".
pub async fn block_installation_writes(app: &TestApp) -> PgConnection {
    let mut conn = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("LOCK TABLE ampersand.installations IN EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

pub async fn unblock(mut conn: PgConnection) {
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A first sync, then a changed payload whose apply touches every kind of change.
pub async fn app_with_pending_changes() -> TestApp {
    let app = spawn_app().await;
    app.sync().await;
    let mut next = installations(0..25);
    next.as_array_mut()
        .unwrap()
        .extend(installations(30..35).as_array().unwrap().iter().cloned());
    next[3]["healthStatus"] = json!("degraded");
    next[4]["group"]["groupName"] = json!("Renamed GmbH");
    app.api.set_installations(next);
    app
}

/// The state a run of the pending changes converges to, checked from facts a user sees.
pub async fn assert_converged(app: &TestApp) {
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
            .await,
        30
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NOT NULL AND id >= 'inst-00025' AND id < 'inst-00030'").await,
        5
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE id = 'inst-00003' AND health_status = 'degraded'").await,
        1
    );
    let again = app.sync().await;
    assert!(
        again.stdout().contains("no changes"),
        "a further run finds nothing to do: {}",
        again.stdout()
    );
}
