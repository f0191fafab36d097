//! Applies a snapshot to the database: compare it with what the tables hold, then write
//! just the difference, set-based, in one transaction.
//!
//! [`plan`] reads; [`execute`] writes. A dry run stops after the plan.
//!
//! How (see `snapshot` for how the snapshot keeps its rows in temporary files):
//! 1. `plan` COPYs the snapshot's index (table, key, hashes, updateTime, where the row
//!    is, and the source record it came from: about 100 bytes a row) into the temporary
//!    table `ampsync_snapshot`, and one statement per table (`ampersand.plan_table`,
//!    `sql/functions/plan_table.sql`) picks each key's winning copy and compares it with
//!    the stored key and hashes, filling the temporary table `ampsync_plan` with what to
//!    insert, restore, update, touch, rehash or delete. An unchanged snapshot plans
//!    nothing and reads nothing but keys and hashes.
//! 2. `execute` reads back from the snapshot's file only the rows the plan writes, COPYs
//!    them into the temporary table `ampsync_stage`, and merges each table with the
//!    set-based statements of `ampersand.merge_stage` and `ampersand.delete_planned`
//!    (`sql/functions/merge_stage.sql`, `sql/functions/delete_planned.sql`), which
//!    write the current rows and their history versions: plain inserts for new rows,
//!    one `UPDATE … FROM` the stage for changed ones. Tables with nothing to write get
//!    no statement at all.
//!
//! Within the plan, two checks: a record holding an id that another project's row has
//! is rejected whole and the tables planned again without it (`reject_held_elsewhere`),
//! and a plan deleting more than half of the live installations, or of the rows only
//! the lists show, is refused (`guard_installations`, `guard_unreached`).
//!
//! Before all that, `plan` compares the snapshot's digest (see `Snapshot::digest`) with
//! the one the project's last successful run recorded in `sync_runs.snapshot` (the run
//! lifecycle reads it from the ledger and passes it in, and records the new one from
//! [`Plan::fingerprint`]: this module knows no ledger). The same digest, from a run that
//! applied its snapshot whole, means nothing can have changed, and the run skips loading
//! and comparing altogether. That is the common case of a job that runs every few
//! minutes, and then the run costs the download and the parse.
//!
//! Temporary tables live in the run's session, are not WAL-logged, and vanish with it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::catalog::Table;
use crate::copy_in::{send_chunked, CopyError, COPY_CHUNK};
use crate::snapshot::store::Origin;
use crate::snapshot::Snapshot;

/// Plan rows fetched per round trip while staging.
const PAGE_ROWS: i64 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The mass-delete guard of installations (PRODUCT.md, rules of a run, 3).
    #[error("refusing to delete {would_delete} of the {live} live {table} of project {project}: more than half. If the source really lost them, run again with --allow-mass-delete")]
    MassDelete {
        project: String,
        table: Table,
        would_delete: u64,
        live: u64,
    },

    /// The mass-delete guard of the rows only the connections and provider-apps lists
    /// show (see [`Unreached`]): every table it refuses, in one message.
    #[error("refusing to delete {} of project {project}, which no live installation uses (only the connections and provider-apps lists show them): more than half of each. If the source really lost them, run again with --allow-mass-delete", Unreached::list(.tables))]
    MassDeleteUnreached {
        project: String,
        tables: Vec<Unreached>,
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
    /// What the run records in `sync_runs.snapshot` once it applied the plan: the
    /// snapshot's digest and its rows per table.
    fingerprint: serde_json::Value,
}

/// The fingerprint the project's last successful run recorded of its snapshot, with
/// that run's id: what [`plan`] compares the new snapshot with.
#[derive(Debug, Clone)]
pub struct LastSnapshot {
    pub run_id: i64,
    pub fingerprint: serde_json::Value,
}

impl Plan {
    /// What to record in `sync_runs.snapshot` when the plan has been applied whole.
    pub fn fingerprint(&self) -> &serde_json::Value {
        &self.fingerprint
    }

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

/// Compares `snapshot` with the tables. `group_ref` limits deletions to one group;
/// `last` is what the project's last successful run recorded of its snapshot, when it
/// applied it whole.
pub async fn plan(
    conn: &mut PgConnection,
    snapshot: &mut Snapshot,
    last: Option<LastSnapshot>,
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
    if let Some(LastSnapshot {
        run_id: run,
        fingerprint,
    }) = last
    {
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
    // Creates (or empties) the run's temporary tables ampsync_snapshot, partitioned by the
    // synced tables $1, and ampsync_plan (sql/functions/begin_plan.sql).
    sqlx::query("SELECT ampersand.begin_plan($1)")
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

    let mut keys = plan_tables(conn, snapshot, group_ref).await?;
    if reject_held_elsewhere(conn, snapshot).await? {
        keys = plan_tables(conn, snapshot, group_ref).await?;
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

    guard_installations(conn, snapshot, &plan, allow_mass_delete).await?;
    guard_unreached(conn, snapshot, group_ref, &plan, allow_mass_delete).await?;
    Ok(plan)
}

/// Deletions the guard lets through without counting: a handful is never "mass".
const GUARD_MINIMUM: u64 = 10;

/// Refuses a plan that deletes more than half of the project's live installations (and
/// more than [`GUARD_MINIMUM`]): an empty or cut-short response looks exactly like that.
async fn guard_installations(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    plan: &Plan,
    allow_mass_delete: bool,
) -> Result<(), ApplyError> {
    let table = Table::Installations;
    let would_delete = plan.tables.get(&table).map_or(0, |c| c.deleted);
    if would_delete <= GUARD_MINIMUM || allow_mass_delete {
        return Ok(());
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
    Ok(())
}

/// What the guard found in one table a list can delete from: of its live rows that no
/// live installation reaches, how many the run would delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreached {
    pub table: Table,
    pub would_delete: u64,
    pub live: u64,
}

impl Unreached {
    /// `24 of the 24 live connections and 36 of the 36 live provider_apps`.
    fn list(tables: &[Unreached]) -> String {
        let each: Vec<String> = tables
            .iter()
            .map(|u| format!("{} of the {} live {}", u.would_delete, u.live, u.table))
            .collect();
        match each.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// The same rule as [`guard_installations`], for each table whose rows a list can
/// delete (connections, groups, consumers, provider apps: `Spec::complete_with`), but
/// counted among the rows only the lists show: those no live installation reaches
/// (`sql/functions/reached_keys.sql`), as the tables stood before the run. Measured
/// against every live row, a list answering `[]` would pass whenever installations use
/// most connections; and the rows installations reach go only with their installations,
/// which the installations' guard counts. A group sync measures against its group's
/// rows, the only ones it may delete. Every table that trips is named.
async fn guard_unreached(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    group_ref: Option<&str>,
    plan: &Plan,
    allow_mass_delete: bool,
) -> Result<(), ApplyError> {
    if allow_mass_delete {
        return Ok(());
    }
    let mut refused = Vec::new();
    for table in Table::ALL {
        let deleted = plan.tables.get(&table).map_or(0, |c| c.deleted);
        // Only deletions past the minimum can trip it, unreached or not.
        if table.spec().complete_with.is_none() || deleted <= GUARD_MINIMUM {
            continue;
        }
        let (live, would_delete): (i64, i64) =
            sqlx::query_as(include_str!("../sql/apply/unreached_counts.sql"))
                .bind(table.name())
                .bind(&snapshot.project_id)
                .bind(group_ref)
                .fetch_one(&mut *conn)
                .await
                .map_err(db("counting the rows only a list shows", table))?;
        let (live, would_delete) = (live as u64, would_delete as u64);
        if would_delete > GUARD_MINIMUM && would_delete * 2 > live {
            refused.push(Unreached {
                table,
                would_delete,
                live,
            });
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApplyError::MassDeleteUnreached {
        project: snapshot.project_id.clone(),
        tables: refused,
    })
}

/// Plans every table the snapshot has rows of or covers (see `ampersand.plan_table`);
/// returns the distinct keys of each.
async fn plan_tables(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    group_ref: Option<&str>,
) -> Result<BTreeMap<Table, u64>, ApplyError> {
    let mut keys = BTreeMap::new();
    for table in Table::ALL {
        if snapshot.copies(table) == 0 && !snapshot.covers(table) {
            continue;
        }
        let started = Instant::now();
        // See sql/functions/plan_table.sql: $3 is the group of a group sync, $4 whether
        // the snapshot covers the table, $5 its delete scope.
        let distinct: i64 = sqlx::query_scalar("SELECT ampersand.plan_table($1, $2, $3, $4, $5)")
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
    Ok(keys)
}

/// Rejects the source records holding a row whose id another project's row already
/// has: in a database shared by projects, the tables keyed by id alone (connections,
/// provider apps, installations, configs, integrations) hold one row per id, so the
/// row cannot be stored, and inserting it would fail every run on the primary key. A
/// record is rejected whole (an installation embedding such a connection, too), with a
/// reason naming the id and the project that holds it, and its copies leave the index;
/// the other project's row is not touched. Returns whether any was, in which case the
/// plan is empty and the tables must be planned again. A key planned as an insert is
/// the only kind another project can hold, so the check costs a primary-key lookup
/// per new row.
async fn reject_held_elsewhere(
    conn: &mut PgConnection,
    snapshot: &mut Snapshot,
) -> Result<bool, ApplyError> {
    let mut rejected: BTreeMap<Origin, BTreeSet<String>> = BTreeMap::new();
    for table in Table::ALL {
        let by_id_alone = table != Table::Projects && table.key_columns() == ["id"];
        if !by_id_alone || snapshot.copies(table) == 0 {
            continue;
        }
        let held: Vec<(String, String)> =
            sqlx::query_as(include_str!("../sql/apply/held_elsewhere.sql"))
                .bind(table.name())
                .bind(&snapshot.project_id)
                .fetch_all(&mut *conn)
                .await
                .map_err(db("looking up ids that other projects hold", table))?;
        if held.is_empty() {
            continue;
        }
        let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
        let origins: Vec<(Option<i64>, String)> =
            sqlx::query_as(include_str!("../sql/apply/origins.sql"))
                .bind(table.name())
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await
                .map_err(db(
                    "finding the records that hold ids of other projects",
                    table,
                ))?;
        let holder: BTreeMap<&str, &str> = held
            .iter()
            .map(|(id, p)| (id.as_str(), p.as_str()))
            .collect();
        for (origin, id) in origins {
            // Every row of these tables comes from a record; `None` cannot happen.
            let (Some(origin), Some(other)) = (origin, holder.get(id.as_str())) else {
                continue;
            };
            rejected.entry(Origin(origin as u64)).or_default().insert(format!(
                "its {table} row {id} belongs to project {other}: a database shared by projects holds one row per id, so it cannot be stored for project {}",
                snapshot.project_id
            ));
        }
    }
    if rejected.is_empty() {
        return Ok(false);
    }
    for (origin, reasons) in &rejected {
        let reasons: Vec<&str> = reasons.iter().map(String::as_str).collect();
        snapshot.reject_stored(*origin, &reasons.join("; "));
    }
    let origins: Vec<i64> = rejected.keys().map(|o| o.0 as i64).collect();
    tracing::warn!(
        records = origins.len(),
        "records rejected: they hold ids that rows of other projects have"
    );
    let dropped: Vec<(String, i64)> = sqlx::query_as(include_str!("../sql/apply/drop_records.sql"))
        .bind(&origins)
        .fetch_all(&mut *conn)
        .await
        .map_err(bookkeeping("taking rejected records out of the snapshot"))?;
    for (name, copies) in dropped {
        if let Some(table) = Table::named(&name) {
            snapshot.forget_copies(table, copies as u64);
        }
    }
    sqlx::query(include_str!("../sql/apply/clear_plan.sql"))
        .execute(&mut *conn)
        .await
        .map_err(bookkeeping("emptying the plan to plan again"))?;
    Ok(true)
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
    let copy = conn
        .copy_in_raw(include_str!("../sql/apply/copy_snapshot.sql"))
        .await
        .map_err(bookkeeping("loading the snapshot's index"))?;
    // One message per chunk of one index file.
    let mut files = snapshot.index();
    let mut file = files.next();
    let mut pos = 0;
    let copy = send_chunked(copy, "reading the snapshot's file failed", |data| {
        while let Some(index) = file {
            if pos < index.len() {
                let n = (index.len() - pos).min(COPY_CHUNK as u64) as usize;
                data.resize(n, 0);
                index.read_at(pos, data)?;
                pos += n as u64;
                return Ok(());
            }
            file = files.next();
            pos = 0;
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| match e {
        CopyError::Source(e) => ApplyError::Spill {
            project: snapshot.project_id.clone(),
            reason: e.to_string(),
        },
        CopyError::Database(e) => doing(e),
    })?;
    copy.finish()
        .await
        .map_err(bookkeeping("loading the snapshot's index"))?;
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
    for rejected in rejects.first(crate::snapshot::rejects::LOGGED) {
        tracing::warn!(source = rejected.source, position = rejected.position, reason = %rejected.reason, "record rejected");
    }
    tracing::warn!(
        rejected = count,
        logged = count.min(crate::snapshot::rejects::LOGGED as u64),
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
            sqlx::query("SELECT ampersand.merge_stage($1, $2, $3)")
                .bind(table.name())
                .bind(run_id)
                .bind(observed_at)
                .execute(&mut *tx)
                .await
                .map_err(db("writing rows", table))?;
        }
        if c.deleted > 0 {
            sqlx::query("SELECT ampersand.delete_planned($1, $2, $3)")
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
    Ok(plan.counts())
}

/// Fills `ampsync_stage` with the rows of `table` the plan writes, read back from the
/// snapshot's file page by page, each line prefixed with its change.
async fn stage(tx: &mut PgConnection, snapshot: &Snapshot, table: Table) -> Result<(), ApplyError> {
    let columns = snapshot.columns(table).unwrap_or_default();
    sqlx::query("SELECT ampersand.prepare_stage($1, $2)")
        .bind(table.name())
        .bind(columns)
        .execute(&mut *tx)
        .await
        .map_err(db("preparing the staging table", table))?;

    let mut after = -1i64;
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
        let copy = tx
            .copy_in_raw(include_str!("../sql/apply/copy_stage.sql"))
            .await
            .map_err(db("staging rows", table))?;
        let mut rows = page.iter();
        let copy = send_chunked(copy, "reading the snapshot's file failed", |data| {
            for (change, pos, len) in rows.by_ref() {
                data.extend_from_slice(change.as_bytes());
                data.push(b'\t');
                snapshot.read_row(*pos as u64, *len as usize, data)?;
                data.push(b'\n');
                if data.len() >= COPY_CHUNK {
                    break;
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| match e {
            CopyError::Source(e) => ApplyError::Spill {
                project: snapshot.project_id.clone(),
                reason: e.to_string(),
            },
            CopyError::Database(e) => db("staging rows", table)(e),
        })?;
        fail::fail_point!("mid-copy", |code| crate::failpoints::exit(code));
        copy.finish().await.map_err(db("staging rows", table))?;
        if (page.len() as i64) < PAGE_ROWS {
            break;
        }
    }
    Ok(())
}
