//! Applies a snapshot to the database: compare it with what the tables hold (keys and
//! hashes only), then write just the difference, set-based, in one transaction.
//!
//! [`plan`] reads; [`execute`] writes. A dry run stops after the plan. The writes go
//! through the database functions of `migrations/V2__history.sql`, which upsert the
//! current rows and write history versions in the same statement.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::PgConnection;

use crate::normalize::Snapshot;
use crate::rows::{PreparedRow, Table, KEY_SEPARATOR};

/// Rows written per statement: large enough to amortize a round trip, small enough to
/// keep one batch's JSON to a few MB.
const BATCH_ROWS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The mass-delete guard (PRODUCT.md, rules of a run, 3).
    #[error("refusing to delete {would_delete} of the {live} live installations of project {project}: more than half. If the source really lost them, run again with --allow-mass-delete")]
    MassDelete {
        project: String,
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
}

/// Per-table counts, keyed by table name.
pub type Counts = BTreeMap<&'static str, TableCounts>;

/// The difference between a snapshot and the database, by key.
#[derive(Debug, Default)]
pub struct Plan {
    tables: BTreeMap<Table, TablePlan>,
    /// Set when deletions were due but not made, with the reason.
    pub deletions_skipped: Option<String>,
}

#[derive(Debug, Default)]
struct TablePlan {
    inserts: Vec<String>,
    updates: Vec<String>,
    restores: Vec<String>,
    touches: Vec<String>,
    deletes: Vec<String>,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        self.tables
            .iter()
            .map(|(table, p)| {
                let counts = TableCounts {
                    inserted: p.inserts.len() as u64,
                    updated: p.updates.len() as u64,
                    restored: p.restores.len() as u64,
                    deleted: p.deletes.len() as u64,
                    touched: p.touches.len() as u64,
                };
                (table.name(), counts)
            })
            .collect()
    }
}

/// What the database holds for one key.
struct Stored {
    content_hash: String,
    row_hash: String,
    deleted: bool,
    /// Whether this run may delete it (group scope, shared objects).
    deletable: bool,
}

/// Compares `snapshot` with the tables. `group_ref` limits deletions to one group.
pub async fn plan(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    group_ref: Option<&str>,
    allow_mass_delete: bool,
) -> Result<Plan, ApplyError> {
    let mut plan = Plan::default();
    let mut deletions_due = false;
    for table in Table::ALL {
        let stored = load_state(conn, table, &snapshot.project_id, group_ref).await?;
        let mut p = TablePlan::default();
        let incoming = snapshot.rows(table);
        for (key, row) in incoming.into_iter().flatten() {
            match stored.get(key) {
                None => p.inserts.push(key.clone()),
                Some(s) if s.deleted => p.restores.push(key.clone()),
                Some(s) if s.content_hash != row.content_hash => p.updates.push(key.clone()),
                Some(s) if s.row_hash != row.row_hash => p.touches.push(key.clone()),
                Some(_) => {}
            }
        }
        if snapshot.covers(table) {
            p.deletes = stored
                .into_iter()
                .filter(|(key, s)| {
                    !s.deleted
                        && s.deletable
                        && !incoming.is_some_and(|rows| rows.contains_key(key))
                })
                .map(|(key, _)| key)
                .collect();
            p.deletes.sort();
        }
        deletions_due |= !p.deletes.is_empty();
        plan.tables.insert(table, p);
    }

    if deletions_due && !snapshot.rejected.is_empty() {
        plan.deletions_skipped = Some(format!(
            "{} source records were rejected, so the snapshot may be incomplete",
            snapshot.rejected.len()
        ));
        plan.tables.values_mut().for_each(|p| p.deletes.clear());
    }

    let would_delete = plan
        .tables
        .get(&Table::Installations)
        .map_or(0, |p| p.deletes.len()) as u64;
    if would_delete > 10 && !allow_mass_delete {
        let live: i64 = sqlx::query_scalar(include_str!("../sql/apply/live_installations.sql"))
            .bind(&snapshot.project_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|source| ApplyError::Database {
                doing: "counting live rows",
                table: Table::Installations,
                source,
            })?;
        let live = live as u64;
        if would_delete * 2 > live {
            return Err(ApplyError::MassDelete {
                project: snapshot.project_id.clone(),
                would_delete,
                live,
            });
        }
    }
    Ok(plan)
}

/// Writes the plan inside the caller's transaction, with versions at `observed_at`.
pub async fn execute(
    tx: &mut PgConnection,
    snapshot: &Snapshot,
    plan: &Plan,
    run_id: i64,
    observed_at: DateTime<Utc>,
) -> Result<Counts, ApplyError> {
    let mut counts = Counts::new();
    for (table, p) in &plan.tables {
        let table = *table;
        let rows = snapshot.rows(table);
        let row = |key: &String| rows.and_then(|r| r.get(key));
        let mut c = TableCounts::default();

        let versioned = p
            .inserts
            .iter()
            .map(|k| ("insert", k))
            .chain(p.updates.iter().map(|k| ("update", k)))
            .chain(p.restores.iter().map(|k| ("restore", k)))
            .filter_map(|(change, key)| row(key).map(|r| with_change(change, r)));
        let written = write_batches(
            tx,
            table,
            include_str!("../sql/apply/write_versions.sql"),
            versioned,
            |q, json| {
                q.bind(table.name())
                    .bind(run_id)
                    .bind(observed_at)
                    .bind(json)
            },
        )
        .await?;
        debug_assert_eq!(
            written as usize,
            p.inserts.len() + p.updates.len() + p.restores.len()
        );
        c.inserted = p.inserts.len() as u64;
        c.updated = p.updates.len() as u64;
        c.restored = p.restores.len() as u64;

        let touched = p
            .touches
            .iter()
            .filter_map(|key| row(key).map(|r| r.json.clone()));
        c.touched = write_batches(
            tx,
            table,
            include_str!("../sql/apply/touch_rows.sql"),
            touched,
            |q, json| q.bind(table.name()).bind(json),
        )
        .await?;

        let deleted = p.deletes.iter().map(|key| key_object(table, key));
        c.deleted = write_batches(
            tx,
            table,
            include_str!("../sql/apply/delete_versions.sql"),
            deleted,
            |q, json| {
                q.bind(table.name())
                    .bind(run_id)
                    .bind(observed_at)
                    .bind(json)
            },
        )
        .await?;

        if c != TableCounts::default() {
            tracing::debug!(table = table.name(), ?c, "applied");
        }
        counts.insert(table.name(), c);
    }

    if !snapshot.rejected.is_empty() {
        let rejected: Vec<_> = snapshot
            .rejected
            .iter()
            .map(|r| serde_json::json!({"source": r.source, "position": r.position, "reason": r.reason, "payload": r.payload}))
            .collect();
        sqlx::query(include_str!("../sql/apply/rejected.sql"))
            .bind(run_id)
            .bind(serde_json::Value::Array(rejected))
            .execute(&mut *tx)
            .await
            .map_err(|source| ApplyError::Bookkeeping {
                doing: "recording rejected records",
                source,
            })?;
    }
    Ok(counts)
}

async fn load_state(
    conn: &mut PgConnection,
    table: Table,
    project_id: &str,
    group_ref: Option<&str>,
) -> Result<HashMap<String, Stored>, ApplyError> {
    let sql = match table {
        Table::Projects => include_str!("../sql/state/projects.sql"),
        Table::Integrations => include_str!("../sql/state/integrations.sql"),
        Table::Groups => include_str!("../sql/state/groups.sql"),
        Table::Consumers => include_str!("../sql/state/consumers.sql"),
        Table::ProviderApps => include_str!("../sql/state/provider_apps.sql"),
        Table::Connections => include_str!("../sql/state/connections.sql"),
        Table::Configs => include_str!("../sql/state/configs.sql"),
        Table::Installations => include_str!("../sql/state/installations.sql"),
    };
    let mut rows = sqlx::query_as::<_, (Vec<String>, String, String, bool, bool)>(sql)
        .bind(project_id)
        .bind(group_ref)
        .fetch(&mut *conn);
    let mut stored = HashMap::new();
    let separator = KEY_SEPARATOR.to_string();
    while let Some((key, content_hash, row_hash, deleted, deletable)) = rows
        .try_next()
        .await
        .map_err(|source| ApplyError::Database {
            doing: "reading what is stored",
            table,
            source,
        })?
    {
        stored.insert(
            key.join(&separator),
            Stored {
                content_hash,
                row_hash,
                deleted,
                deletable,
            },
        );
    }
    Ok(stored)
}

/// Sends `items` (JSON objects) to `sql` as JSON arrays of at most [`BATCH_ROWS`]; returns
/// the sum of what the statement returns for each batch.
async fn write_batches<'q, I, B>(
    tx: &mut PgConnection,
    table: Table,
    sql: &'q str,
    items: I,
    bind: B,
) -> Result<u64, ApplyError>
where
    I: Iterator<Item = String>,
    B: Fn(
        sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments>,
        String,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments>,
{
    let mut total = 0;
    let mut items = items.peekable();
    while items.peek().is_some() {
        let mut batch = String::from("[");
        for (i, item) in items.by_ref().take(BATCH_ROWS).enumerate() {
            if i > 0 {
                batch.push(',');
            }
            batch.push_str(&item);
        }
        batch.push(']');
        let n = bind(sqlx::query_scalar(sql), batch)
            .fetch_one(&mut *tx)
            .await
            .map_err(|source| ApplyError::Database {
                doing: "writing rows",
                table,
                source,
            })?;
        total += n as u64;
    }
    Ok(total)
}

/// The row's JSON with `"_change"` added, for `ampersand.write_versions`.
fn with_change(change: &str, row: &PreparedRow) -> String {
    // `row.json` is a non-empty JSON object: `{"column":...}`.
    format!("{{\"_change\":\"{change}\",{}", &row.json[1..])
}

/// `{"project_id": ..., "group_ref": ...}` for a key, for `ampersand.delete_versions`.
fn key_object(table: Table, key: &str) -> String {
    let object: serde_json::Map<String, serde_json::Value> = table
        .key_columns()
        .iter()
        .zip(key.split(KEY_SEPARATOR))
        .map(|(column, part)| {
            (
                (*column).to_owned(),
                serde_json::Value::String(part.to_owned()),
            )
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}
