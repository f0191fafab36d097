//! Applies a snapshot to the database: compare it with what the tables hold, then write
//! just the difference, set-based, in one transaction.
//!
//! [`plan`] reads; [`execute`] writes. A dry run stops after the plan.
//!
//! How (see `normalize` for how the snapshot keeps its rows in temporary files):
//! 1. `plan` COPYs the snapshot's index (table, key, hashes, updateTime, where the row
//!    is: about 100 bytes a row) into the temporary table `ampsync_snapshot`, and one
//!    statement per table (`ampersand.plan_table`, `sql/functions/plan_table.sql`) picks each key's winning copy and compares
//!    it with the stored key and hashes, filling the temporary table `ampsync_plan`
//!    with what to insert, restore, update, touch or delete. An unchanged snapshot
//!    plans nothing and reads nothing but keys and hashes.
//! 2. `execute` reads back from the snapshot's file only the rows the plan writes, COPYs
//!    them into the temporary table `ampsync_stage`, and merges each table with the
//!    set-based statements of `ampersand.merge_stage` and `ampersand.delete_planned`
//!    (`migrations/V5__set_based_apply.sql`, `V6__cheaper_plan_and_merge.sql`), which
//!    write the current rows and their history versions: plain inserts for new rows,
//!    one `UPDATE … FROM` the stage for changed ones. Tables with nothing to write get
//!    no statement at all.
//!
//! Before all that, `plan` compares the snapshot's digest (see `Snapshot::digest`) with
//! the one the project's last successful run recorded in `sync_runs.snapshot`: the same
//! digest, from a run that applied its snapshot whole, means nothing can have changed,
//! and the run skips loading and comparing altogether. That is the common case of a job
//! that runs every few minutes, and then the run costs the download and the parse.
//!
//! Temporary tables live in the run's session, are not WAL-logged, and vanish with it.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::normalize::Snapshot;
use crate::rows::Table;
use crate::runs;

/// Plan rows fetched per round trip while staging.
const PAGE_ROWS: i64 = 20_000;
/// COPY data sent per message.
const COPY_CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The mass-delete guard (PRODUCT.md, rules of a run, 3).
    #[error("refusing to delete {would_delete} of the {live} live {table} of project {project}: more than half. If the source really lost them, run again with --allow-mass-delete")]
    MassDelete {
        project: String,
        /// Installations, or connections (which a list may drop).
        table: Table,
        would_delete: u64,
        live: u64,
    },

    #[error("{doing} for table {table}")]
    Database {
        doing: &'static str,
        table: Table,
        #[source]
        source: sqlx::Error,
    },

    #[error("{doing}")]
    Bookkeeping {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The snapshot's temporary files could not be written or read back.
    #[error("the snapshot of project {project} could not be kept in a temporary file (TMPDIR): {reason}")]
    Spill { project: String, reason: String },
}

/// What a run changes in one table.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct TableCounts {
    pub inserted: u64,
    pub updated: u64,
    /// Rows that came back after a soft delete (a new `insert` version).
    pub restored: u64,
    pub deleted: u64,
    /// Rows whose token times alone moved: updated in place, without a version.
    pub touched: u64,
    /// Unchanged rows stored with 0.1.0's hashes: their hashes (and a field promoted
    /// out of `extra`) rewritten in place, without a version.
    #[serde(skip_serializing_if = "is_zero")]
    pub rehashed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TableCounts {
    /// Rows to stage: everything but deletions.
    fn staged(&self) -> u64 {
        self.inserted + self.updated + self.restored + self.touched + self.rehashed
    }
}

/// Per-table counts, keyed by table name.
pub type Counts = BTreeMap<&'static str, TableCounts>;

/// The difference between a snapshot and the database; the rows themselves wait in the
/// session's `ampsync_plan` table.
#[derive(Debug, Default)]
pub struct Plan {
    tables: BTreeMap<Table, TableCounts>,
    /// Set when deletions were due but not made, with the reason.
    pub deletions_skipped: Option<String>,
    /// What `execute` records in `sync_runs.snapshot`: the snapshot's digest and its
    /// rows per table.
    fingerprint: serde_json::Value,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        Table::ALL
            .iter()
            .map(|table| {
                let counts = self.tables.get(table).cloned().unwrap_or_default();
                (table.name(), counts)
            })
            .collect()
    }
}

fn db(doing: &'static str, table: Table) -> impl FnOnce(sqlx::Error) -> ApplyError {
    move |source| ApplyError::Database {
        doing,
        table,
        source,
    }
}

fn bookkeeping(doing: &'static str) -> impl FnOnce(sqlx::Error) -> ApplyError {
    move |source| ApplyError::Bookkeeping { doing, source }
}

/// Compares `snapshot` with the tables. `group_ref` limits deletions to one group.
pub async fn plan(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    group_ref: Option<&str>,
    allow_mass_delete: bool,
) -> Result<Plan, ApplyError> {
    let spill_error = |reason: String| ApplyError::Spill {
        project: snapshot.project_id.clone(),
        reason,
    };
    snapshot.stored().map_err(spill_error)?;

    // The same snapshot as the last run applied whole changes nothing: no need to load
    // and compare it. (Every write to the tables comes from a run, and runs of a
    // project take turns, so the tables still hold what that run left.)
    let digest = snapshot.digest(group_ref);
    let last = runs::last_snapshot(conn, &snapshot.project_id)
        .await
        .map_err(bookkeeping("reading the last run's snapshot"))?;
    if let Some((run, Some(fingerprint))) = last {
        if fingerprint["digest"] == digest.as_str() {
            let keys: BTreeMap<Table, u64> = Table::ALL
                .into_iter()
                .filter_map(|t| fingerprint["keys"][t.name()].as_u64().map(|n| (t, n)))
                .collect();
            log_unchanged(snapshot, &keys, run);
            return Ok(Plan {
                fingerprint,
                ..Plan::default()
            });
        }
    }

    let started = Instant::now();
    sqlx::query(include_str!("../sql/apply/begin_plan.sql"))
        .bind(Table::ALL.map(Table::name).as_slice())
        .execute(&mut *conn)
        .await
        .map_err(bookkeeping("creating the run's temporary tables"))?;
    load_index(conn, snapshot).await?;
    tracing::debug!(
        bytes = snapshot.index().map(|i| i.len()).sum::<u64>(),
        seconds = started.elapsed().as_secs_f64(),
        "index loaded"
    );

    let mut keys = BTreeMap::new();
    for table in Table::ALL {
        if snapshot.copies(table) == 0 && !snapshot.covers(table) {
            continue;
        }
        let started = Instant::now();
        let distinct: i64 = sqlx::query_scalar(include_str!("../sql/apply/plan_table.sql"))
            .bind(table.name())
            .bind(&snapshot.project_id)
            .bind(group_ref)
            .bind(snapshot.covers(table))
            .bind(table.spec().delete_scope.sql_name())
            .fetch_one(&mut *conn)
            .await
            .map_err(db("comparing the snapshot with what is stored", table))?;
        tracing::debug!(
            table = table.name(),
            keys = distinct,
            seconds = started.elapsed().as_secs_f64(),
            "planned"
        );
        keys.insert(table, distinct as u64);
    }
    log_snapshot(conn, snapshot, &keys).await?;
    let mut plan = Plan {
        fingerprint: serde_json::json!({
            "digest": digest,
            "keys": keys.iter().map(|(t, n)| (t.name(), *n)).collect::<BTreeMap<_, _>>(),
        }),
        ..Plan::default()
    };

    let counts: Vec<(String, String, i64)> =
        sqlx::query_as(include_str!("../sql/apply/plan_counts.sql"))
            .fetch_all(&mut *conn)
            .await
            .map_err(bookkeeping("counting the planned changes"))?;
    for (name, change, n) in counts {
        let Some(table) = Table::named(&name) else {
            continue;
        };
        let c = plan.tables.entry(table).or_default();
        let n = n as u64;
        match change.as_str() {
            "insert" => c.inserted = n,
            "update" => c.updated = n,
            "restore" => c.restored = n,
            "touch" => c.touched = n,
            "rehash" => c.rehashed = n,
            "delete" => c.deleted = n,
            _ => {}
        }
    }

    keep_unreached(conn, snapshot, &mut plan).await?;

    let deletions_due = plan.tables.values().any(|c| c.deleted > 0);
    let rejected = snapshot.rejected();
    if deletions_due && rejected > 0 {
        plan.deletions_skipped = Some(format!(
            "{rejected} source records were rejected, so the snapshot may be incomplete"
        ));
        sqlx::query(include_str!("../sql/apply/skip_deletes.sql"))
            .execute(&mut *conn)
            .await
            .map_err(bookkeeping("skipping the deletions"))?;
        plan.tables.values_mut().for_each(|c| c.deleted = 0);
    }

    // The guard counts installations, and connections too: a connections list that
    // suddenly comes back empty must not take every connection without an installation.
    for table in [Table::Installations, Table::Connections] {
        let would_delete = plan.tables.get(&table).map_or(0, |c| c.deleted);
        if would_delete <= 10 || allow_mass_delete {
            continue;
        }
        let live: i64 = sqlx::query_scalar(include_str!("../sql/apply/live_rows.sql"))
            .bind(table.name())
            .bind(&snapshot.project_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db("counting live rows", table))?;
        let live = live as u64;
        if would_delete * 2 > live {
            return Err(ApplyError::MassDelete {
                project: snapshot.project_id.clone(),
                table,
                would_delete,
                live,
            });
        }
    }
    Ok(plan)
}

/// For each table whose list the snapshot lacks (see `catalog::List`), takes back the
/// planned deletions of rows that no live installation reaches: only a list could have
/// shown them, so their absence says nothing.
async fn keep_unreached(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    plan: &mut Plan,
) -> Result<(), ApplyError> {
    for (table, counts) in plan.tables.iter_mut() {
        let unlisted = table
            .spec()
            .complete_with
            .is_some_and(|list| !snapshot.listed(list));
        if !unlisted || counts.deleted == 0 {
            continue;
        }
        let kept = sqlx::query(include_str!("../sql/apply/keep_unreached.sql"))
            .bind(table.name())
            .bind(&snapshot.project_id)
            .execute(&mut *conn)
            .await
            .map_err(db("keeping rows only a list could show", *table))?
            .rows_affected();
        if kept > 0 {
            tracing::info!(
                table = table.name(),
                rows = kept,
                "not deleted: absent, but only a list the run did not read could have shown them"
            );
        }
        counts.deleted -= kept.min(counts.deleted);
    }
    Ok(())
}

/// COPYs the snapshot's index into `ampsync_snapshot`. Not analyzed: every comparison
/// is a full join of the whole partition (a hash join whatever the estimates), and
/// sampling the partitions cost more than it saved (0.1–0.3 s at 100,000
/// installations).
async fn load_index(conn: &mut PgConnection, snapshot: &Snapshot) -> Result<(), ApplyError> {
    let doing = bookkeeping("loading the snapshot's index");
    let mut copy = conn
        .copy_in_raw(include_str!("../sql/apply/copy_snapshot.sql"))
        .await
        .map_err(bookkeeping("loading the snapshot's index"))?;
    let mut failure = None;
    let mut buf = vec![0; COPY_CHUNK];
    'parts: for index in snapshot.index() {
        let mut pos = 0;
        while pos < index.len() {
            let n = (index.len() - pos).min(COPY_CHUNK as u64) as usize;
            if let Err(e) = index.read_at(pos, &mut buf[..n]) {
                failure = Some(e.to_string());
                break 'parts;
            }
            if let Err(e) = copy.send(&buf[..n]).await {
                let _ = copy.abort("sending the index failed").await;
                return Err(doing(e));
            }
            pos += n as u64;
        }
    }
    if let Some(reason) = failure {
        let _ = copy.abort("reading the snapshot's file failed").await;
        return Err(ApplyError::Spill {
            project: snapshot.project_id.clone(),
            reason,
        });
    }
    copy.finish().await.map_err(doing)?;
    Ok(())
}

fn rows_line(keys: &BTreeMap<Table, u64>) -> String {
    Table::ALL
        .iter()
        .map(|t| format!("{t}={}", keys.get(t).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// As [`log_snapshot`], for a snapshot found identical to the one run `run` applied.
fn log_unchanged(snapshot: &Snapshot, keys: &BTreeMap<Table, u64>, run: i64) {
    tracing::info!(rows = %rows_line(keys), rejected = snapshot.rejected(), temp_bytes = snapshot.temp_bytes(), unchanged_since_run = run, "snapshot read");
    log_rejected(snapshot);
}

/// The first rejected records one by one, then one line with the count: a response
/// of 100,000 bad records logs a handful of lines, not 100,000.
pub fn log_rejected(snapshot: &Snapshot) {
    let rejects = snapshot.rejects();
    let count = rejects.count();
    if count == 0 {
        return;
    }
    for rejected in rejects.first(crate::rejects::LOGGED) {
        tracing::warn!(source = rejected.source, position = rejected.position, reason = %rejected.reason, "record rejected");
    }
    tracing::warn!(
        rejected = count,
        logged = count.min(crate::rejects::LOGGED as u64),
        without_payload = rejects.without_payload(),
        "records rejected"
    );
}

/// Logs what the snapshot holds: rows (distinct keys) per table, rejected records, and
/// keys that came in several copies.
async fn log_snapshot(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    keys: &BTreeMap<Table, u64>,
) -> Result<(), ApplyError> {
    let keys_of = |table: Table| keys.get(&table).copied().unwrap_or(0);
    tracing::info!(rows = %rows_line(keys), rejected = snapshot.rejected(), temp_bytes = snapshot.temp_bytes(), "snapshot read");
    log_rejected(snapshot);
    let duplicates = snapshot
        .copies(Table::Installations)
        .saturating_sub(keys_of(Table::Installations));
    if duplicates > 0 {
        tracing::warn!(count = duplicates, "installation ids appeared more than once; the copy with the latest updateTime was kept");
    }
    for table in Table::ALL {
        // Only keys with several copies can disagree.
        if snapshot.copies(table) <= keys_of(table) {
            continue;
        }
        let disagreeing: i64 = sqlx::query_scalar(include_str!("../sql/apply/disagreeing.sql"))
            .bind(table.name())
            .fetch_one(&mut *conn)
            .await
            .map_err(db("counting disagreeing copies", table))?;
        if disagreeing > 0 {
            tracing::warn!(table = table.name(), keys = disagreeing, "copies of one key disagreed; kept the one with the latest updateTime (then the greatest row hash)");
        }
    }
    Ok(())
}

/// Writes the plan inside the caller's transaction, with versions at `observed_at`.
pub async fn execute(
    tx: &mut PgConnection,
    snapshot: &Snapshot,
    plan: &Plan,
    run_id: i64,
    observed_at: DateTime<Utc>,
) -> Result<Counts, ApplyError> {
    for table in Table::ALL {
        let Some(c) = plan.tables.get(&table) else {
            continue;
        };
        let started = Instant::now();
        if c.staged() > 0 {
            stage(tx, snapshot, table).await?;
            fail::fail_point!("after-staging", |code| crate::failpoints::exit(code));
            tracing::debug!(
                table = table.name(),
                seconds = started.elapsed().as_secs_f64(),
                "staged"
            );
            sqlx::query(include_str!("../sql/apply/merge_stage.sql"))
                .bind(table.name())
                .bind(run_id)
                .bind(observed_at)
                .execute(&mut *tx)
                .await
                .map_err(db("writing rows", table))?;
        }
        if c.deleted > 0 {
            sqlx::query(include_str!("../sql/apply/delete_planned.sql"))
                .bind(table.name())
                .bind(run_id)
                .bind(observed_at)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting rows", table))?;
        }
        if *c != TableCounts::default() {
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(table = table.name(), ?c, seconds, "applied");
        }
    }

    runs::record_snapshot(tx, run_id, &plan.fingerprint)
        .await
        .map_err(bookkeeping("recording the snapshot's fingerprint"))?;
    Ok(plan.counts())
}

/// Fills `ampsync_stage` with the rows of `table` the plan writes, read back from the
/// snapshot's file page by page, each line prefixed with its change.
async fn stage(tx: &mut PgConnection, snapshot: &Snapshot, table: Table) -> Result<(), ApplyError> {
    let columns = snapshot.columns(table).unwrap_or_default();
    sqlx::query(include_str!("../sql/apply/prepare_stage.sql"))
        .bind(table.name())
        .bind(columns)
        .execute(&mut *tx)
        .await
        .map_err(db("preparing the staging table", table))?;

    let mut after = -1i64;
    let mut data = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    loop {
        let page: Vec<(String, i64, i32)> =
            sqlx::query_as(include_str!("../sql/apply/planned_rows.sql"))
                .bind(table.name())
                .bind(after)
                .bind(PAGE_ROWS)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("reading the plan", table))?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.1;
        let mut copy = tx
            .copy_in_raw(include_str!("../sql/apply/copy_stage.sql"))
            .await
            .map_err(db("staging rows", table))?;
        for (change, pos, len) in &page {
            data.extend_from_slice(change.as_bytes());
            data.push(b'\t');
            if let Err(e) = snapshot.read_row(*pos as u64, *len as usize, &mut data) {
                let _ = copy.abort("reading the snapshot's file failed").await;
                return Err(ApplyError::Spill {
                    project: snapshot.project_id.clone(),
                    reason: e.to_string(),
                });
            }
            data.push(b'\n');
            if data.len() >= COPY_CHUNK {
                copy.send(data.as_slice())
                    .await
                    .map_err(db("staging rows", table))?;
                data.clear();
            }
        }
        if !data.is_empty() {
            copy.send(data.as_slice())
                .await
                .map_err(db("staging rows", table))?;
            data.clear();
        }
        fail::fail_point!("mid-copy", |code| crate::failpoints::exit(code));
        copy.finish().await.map_err(db("staging rows", table))?;
        if (page.len() as i64) < PAGE_ROWS {
            break;
        }
    }
    Ok(())
}
