//! Rows of the target tables (schema `ampersand`, see `migrations/`), separate from the
//! API's types: one struct per table whose fields are the table's columns. A row
//! becomes a [`PreparedRow`]: its key, its content hashes and its JSON form, which the
//! database functions `ampersand.write_versions` and friends turn into a table row.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// The synced tables, in the order a snapshot is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Projects,
    Integrations,
    Groups,
    Consumers,
    ProviderApps,
    Connections,
    Configs,
    Installations,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Projects,
        Table::Integrations,
        Table::Groups,
        Table::Consumers,
        Table::ProviderApps,
        Table::Connections,
        Table::Configs,
        Table::Installations,
    ];

    /// The table's name in schema `ampersand`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Projects => "projects",
            Table::Integrations => "integrations",
            Table::Groups => "groups",
            Table::Consumers => "consumers",
            Table::ProviderApps => "provider_apps",
            Table::Connections => "connections",
            Table::Configs => "configs",
            Table::Installations => "installations",
        }
    }

    /// The primary-key columns, as the API keys the object.
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Table::Groups => &["project_id", "group_ref"],
            Table::Consumers => &["project_id", "consumer_ref"],
            _ => &["id"],
        }
    }

    /// Columns that move on their own (token refreshes): a change to them alone
    /// updates the current row without a history version.
    pub fn volatile_columns(self) -> &'static [&'static str] {
        match self {
            Table::Connections => &[
                "access_token_issued_at",
                "access_token_expires_at",
                "refresh_token_issued_at",
                "refresh_token_expires_at",
            ],
            _ => &[],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Separates the parts of a composite key in [`PreparedRow::key`].
pub const KEY_SEPARATOR: char = '\u{1f}';

#[derive(Serialize)]
pub struct ProjectRow {
    pub id: String,
    pub name: Option<String>,
    pub app_name: Option<String>,
    pub org_id: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub entitlements: Option<Value>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct IntegrationRow {
    pub id: String,
    pub project_id: String,
    pub name: Option<String>,
    pub provider: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub latest_revision_id: Option<String>,
    pub latest_revision_spec_version: Option<String>,
    pub latest_revision_create_time: Option<DateTime<Utc>>,
    pub latest_revision_content: Option<Value>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct GroupRow {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct ConsumerRow {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct ProviderAppRow {
    pub id: String,
    pub project_id: String,
    pub provider: Option<String>,
    pub client_id: Option<String>,
    pub external_ref: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<Value>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct ConnectionRow {
    pub id: String,
    pub project_id: String,
    pub provider: Option<String>,
    pub provider_app_id: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub auth_scheme: Option<String>,
    pub status: Option<String>,
    pub has_access_token: bool,
    pub access_token_issued_at: Option<DateTime<Utc>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub refresh_token_issued_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub oauth_scopes: Option<Vec<String>>,
    pub has_api_key: bool,
    pub provider_metadata: Option<Value>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct ConfigRow {
    pub id: String,
    pub project_id: String,
    pub installation_id: String,
    pub revision_id: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    pub content: Option<Value>,
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct InstallationRow {
    pub id: String,
    pub project_id: String,
    pub integration_id: Option<String>,
    pub health_status: Option<String>,
    pub last_operation_status: Option<String>,
    pub connection_id: Option<String>,
    pub config_id: Option<String>,
    pub group_ref: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Map<String, Value>,
}

/// A row ready to be compared with the database and written.
#[derive(Debug, Clone)]
pub struct PreparedRow {
    /// The key columns' values joined by [`KEY_SEPARATOR`].
    pub key: String,
    /// Hash of the versioned content: every column but the volatile ones.
    pub content_hash: String,
    /// Hash of every column.
    pub row_hash: String,
    /// The source's own `updateTime`, used to pick between disagreeing copies.
    pub update_time: Option<DateTime<Utc>>,
    /// The row as a JSON object, hashes included.
    pub json: String,
}

impl PreparedRow {
    pub fn new<R: Serialize>(table: Table, row: &R, update_time: Option<DateTime<Utc>>) -> Self {
        let mut columns = match serde_json::to_value(row) {
            Ok(Value::Object(map)) => map,
            // Every row type is a struct of plain fields: it always serializes to an object.
            _ => unreachable!("row types serialize to JSON objects"),
        };
        let key = table
            .key_columns()
            .iter()
            .map(|column| {
                columns
                    .get(*column)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(&KEY_SEPARATOR.to_string());
        // serde_json's map is ordered by key, so equal rows always hash alike.
        let row_hash = hash(&columns);
        let content_hash = if table.volatile_columns().is_empty() {
            row_hash.clone()
        } else {
            let mut stable = columns.clone();
            stable.retain(|column, _| !table.volatile_columns().contains(&column.as_str()));
            hash(&stable)
        };
        columns.insert("content_hash".into(), Value::String(content_hash.clone()));
        columns.insert("row_hash".into(), Value::String(row_hash.clone()));
        PreparedRow {
            key,
            content_hash,
            row_hash,
            update_time,
            json: Value::Object(columns).to_string(),
        }
    }

    /// True when `self` should be kept over `other`, another copy of the same key in one
    /// snapshot: the copy with the later `updateTime` wins, and between copies with the
    /// same time the one with the greater row hash, so the choice never depends on order.
    pub fn wins_over(&self, other: &PreparedRow) -> bool {
        (self.update_time, &self.row_hash) > (other.update_time, &other.row_hash)
    }
}

fn hash(columns: &Map<String, Value>) -> String {
    // Serializing a map of JSON values cannot fail: its keys are strings.
    let text = serde_json::to_vec(columns).unwrap_or_default();
    let digest = blake3::hash(&text);
    digest.to_hex()[..32].to_owned()
}
