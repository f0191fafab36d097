//! The synced tables, each declared once: its name, key, columns (with the name each
//! column has in the source-object hash), the columns that move on their own, whether
//! installations share its objects, and which response covers it. Plans, counts, logs,
//! hashing, tests and the bench take the list from here.
//!
//! # Adding a column
//! Add the migration, the API model's field and the row's field in its mapping
//! (`bridge`). A column hashes under its name in camelCase (`catalog_vars` as
//! `catalogVars`), which is the API's name for it: an object whose field sat in `extra`
//! before keeps its hash, and gets no history version (0.1.0's hash too: it is computed
//! with every column not in [`Spec::in_0_1_0`] put back in `extra`). Only a column whose
//! API name is something else needs a [`Column`] here. `export` writes it by the same
//! name, from the table's columns.

use std::fmt;

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

/// Which response of a sync holds every row of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// `GET /projects/{p}`.
    Project,
    /// `GET /projects/{p}/integrations`.
    Integrations,
    /// `GET /projects/{p}/installations`, which embeds these objects.
    Installations,
}

/// A list endpoint that names objects no installation may embed. With the
/// installations it holds every row of the tables whose [`Spec::complete_with`] names
/// it; a run that could not read it (403 or 404, or an import without its file) deletes
/// only rows that live installations reach (see `sql/apply/keep_unreached.sql`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    /// `GET /projects/{p}/connections[?groupRef=]`: connections, and the groups,
    /// consumers and provider apps they embed.
    Connections,
    /// `GET /projects/{p}/provider-apps`.
    ProviderApps,
}

impl List {
    pub const ALL: [List; 2] = [List::Connections, List::ProviderApps];

    /// Its name in `sync_runs.lists_unavailable`, logs and the report.
    pub fn name(self) -> &'static str {
        match self {
            List::Connections => "connections",
            List::ProviderApps => "provider_apps",
        }
    }

    /// The endpoint below `/projects/{p}/`.
    pub fn path(self) -> &'static str {
        match self {
            List::Connections => "connections",
            List::ProviderApps => "provider-apps",
        }
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which absent rows a group sync (`--group-ref`) may delete; a full sync may delete any
/// absent row of a table its snapshot covers (see `sql/functions/plan_table.sql`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteScope {
    /// Rows of the synced group (`group_ref`).
    Group,
    /// Rows whose installation is in the synced group.
    Installation,
    /// None: the objects serve every group.
    FullSyncOnly,
    /// Any: their response is complete even in a group sync.
    Any,
    /// Never: the object answered the request.
    Never,
}

impl DeleteScope {
    /// The name `plan_table` takes.
    pub fn sql_name(self) -> &'static str {
        match self {
            DeleteScope::Group => "group",
            DeleteScope::Installation => "installation",
            DeleteScope::FullSyncOnly => "full_sync",
            DeleteScope::Any => "any",
            DeleteScope::Never => "never",
        }
    }
}

/// A column whose hash name is not simply its name in camelCase.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    /// Its name in the source-object hash: the API field's name (dotted inside a nested
    /// object), `@…` for what the run supplies (the project, the owning installation, a
    /// secret's presence), or none for a column derived from another (`created_by_kind`).
    /// Never renamed once released: the hash of every stored row depends on it.
    pub hashed_as: Option<&'static str>,
}

const fn col(name: &'static str, hashed_as: &'static str) -> Column {
    Column {
        name,
        hashed_as: Some(hashed_as),
    }
}

const fn derived(name: &'static str) -> Column {
    Column {
        name,
        hashed_as: None,
    }
}

/// Everything ampsync knows about one table.
#[derive(Debug)]
pub struct Spec {
    pub table: Table,
    /// Its name in schema `ampersand`; its history is `{name}_history`.
    pub name: &'static str,
    /// The primary-key columns, as the API keys the object.
    pub key: &'static [&'static str],
    /// The columns whose hash name is not their API name in camelCase (the name
    /// `group_name` has anyway): fields of nested objects, what the run supplies,
    /// derived columns. A plain new column needs no entry.
    pub columns: &'static [Column],
    /// The row's columns in 0.1.0 (V1), for the hash 0.1.0 computed, which a row stored
    /// by it and not seen since still holds. 0.1.0 kept every other field in `extra`, so
    /// a column added later (`catalog_vars`, say) goes back there for that hash: a new
    /// column needs no entry here. Fixed: V1 never changes.
    pub in_0_1_0: &'static [&'static str],
    /// Columns that move on their own (token refreshes): a change to them alone updates
    /// the current row without a history version.
    pub volatile: &'static [&'static str],
    /// Objects many installations embed (a connection, its group, consumer and provider
    /// app): copies of one key are compared, and exact repeats are left out early.
    pub shared: bool,
    pub coverage: Coverage,
    pub delete_scope: DeleteScope,
    /// The list that, with the installations, holds every row of the table; when a run
    /// did not read it, only rows reached from live installations may be deleted.
    pub complete_with: Option<List>,
    /// Nested objects whose unknown fields `extra` keeps under the object's name; they
    /// hash under dotted names, like the columns taken from the same object.
    pub nested: &'static [&'static str],
}

const PROJECT: &str = "@projectId";

/// The columns every synced table has besides those of its source object: its hashes
/// and what the runs record about the row. Every other column is a field of the object
/// (or `extra`), which `export` writes back and a dbt source describes.
pub const BOOKKEEPING: [&str; 6] = [
    "content_hash",
    "row_hash",
    "first_seen_at",
    "changed_at",
    "deleted_at",
    "sync_run_id",
];

static SPECS: [Spec; 8] = [
    Spec {
        table: Table::Projects,
        name: "projects",
        key: &["id"],
        columns: &[],
        volatile: &[],
        shared: false,
        coverage: Coverage::Project,
        delete_scope: DeleteScope::Never,
        complete_with: None,
        nested: &[],
        in_0_1_0: &[
            "id",
            "name",
            "app_name",
            "org_id",
            "create_time",
            "update_time",
            "entitlements",
            "extra",
        ],
    },
    Spec {
        table: Table::Integrations,
        name: "integrations",
        key: &["id"],
        columns: &[
            col("project_id", PROJECT),
            col("latest_revision_id", "latestRevision.id"),
            col("latest_revision_spec_version", "latestRevision.specVersion"),
            col("latest_revision_create_time", "latestRevision.createTime"),
            col("latest_revision_content", "latestRevision.content"),
        ],
        volatile: &[],
        shared: false,
        coverage: Coverage::Integrations,
        delete_scope: DeleteScope::Any,
        complete_with: None,
        nested: &["latestRevision"],
        in_0_1_0: &[
            "id",
            "project_id",
            "name",
            "provider",
            "create_time",
            "update_time",
            "latest_revision_id",
            "latest_revision_spec_version",
            "latest_revision_create_time",
            "latest_revision_content",
            "extra",
        ],
    },
    Spec {
        table: Table::Groups,
        name: "groups",
        key: &["project_id", "group_ref"],
        columns: &[col("project_id", PROJECT)],
        volatile: &[],
        shared: true,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::Group,
        complete_with: Some(List::Connections),
        nested: &[],
        in_0_1_0: &[
            "project_id",
            "group_ref",
            "group_name",
            "create_time",
            "update_time",
            "extra",
        ],
    },
    Spec {
        table: Table::Consumers,
        name: "consumers",
        key: &["project_id", "consumer_ref"],
        columns: &[col("project_id", PROJECT)],
        volatile: &[],
        shared: true,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::FullSyncOnly,
        complete_with: Some(List::Connections),
        nested: &[],
        in_0_1_0: &[
            "project_id",
            "consumer_ref",
            "consumer_name",
            "create_time",
            "update_time",
            "extra",
        ],
    },
    Spec {
        table: Table::ProviderApps,
        name: "provider_apps",
        key: &["id"],
        columns: &[col("project_id", PROJECT)],
        volatile: &[],
        shared: true,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::FullSyncOnly,
        complete_with: Some(List::ProviderApps),
        nested: &[],
        in_0_1_0: &[
            "id",
            "project_id",
            "provider",
            "client_id",
            "external_ref",
            "scopes",
            "metadata",
            "create_time",
            "update_time",
            "extra",
        ],
    },
    Spec {
        table: Table::Connections,
        name: "connections",
        key: &["id"],
        columns: &[
            col("project_id", PROJECT),
            col("provider_app_id", "providerApp.id"),
            col("group_ref", "group.groupRef"),
            col("consumer_ref", "consumer.consumerRef"),
            col("has_access_token", "@hasAccessToken"),
            col(
                "access_token_issued_at",
                "oauth2AuthorizationCode.accessToken.issuedAt",
            ),
            col(
                "access_token_expires_at",
                "oauth2AuthorizationCode.accessToken.expiresAt",
            ),
            col("has_refresh_token", "@hasRefreshToken"),
            col(
                "refresh_token_issued_at",
                "oauth2AuthorizationCode.refreshToken.issuedAt",
            ),
            col(
                "refresh_token_expires_at",
                "oauth2AuthorizationCode.refreshToken.expiresAt",
            ),
            col("oauth_scopes", "oauth2AuthorizationCode.scopes"),
            col("has_api_key", "@hasApiKey"),
        ],
        volatile: &[
            "access_token_issued_at",
            "access_token_expires_at",
            "refresh_token_issued_at",
            "refresh_token_expires_at",
        ],
        shared: true,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::Group,
        complete_with: Some(List::Connections),
        nested: &["oauth2AuthorizationCode"],
        in_0_1_0: &[
            "id",
            "project_id",
            "provider",
            "provider_app_id",
            "group_ref",
            "consumer_ref",
            "provider_workspace_ref",
            "provider_consumer_ref",
            "create_time",
            "update_time",
            "auth_scheme",
            "status",
            "has_access_token",
            "access_token_issued_at",
            "access_token_expires_at",
            "has_refresh_token",
            "refresh_token_issued_at",
            "refresh_token_expires_at",
            "oauth_scopes",
            "has_api_key",
            "provider_metadata",
            "extra",
        ],
    },
    Spec {
        table: Table::Configs,
        name: "configs",
        key: &["id"],
        columns: &[
            col("project_id", PROJECT),
            col("installation_id", "@installationId"),
            derived("created_by_kind"),
            derived("created_by_ref"),
        ],
        volatile: &[],
        shared: false,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::Installation,
        complete_with: None,
        nested: &[],
        in_0_1_0: &[
            "id",
            "project_id",
            "installation_id",
            "revision_id",
            "create_time",
            "created_by",
            "created_by_kind",
            "created_by_ref",
            "content",
            "extra",
        ],
    },
    Spec {
        table: Table::Installations,
        name: "installations",
        key: &["id"],
        columns: &[
            col("project_id", PROJECT),
            col("connection_id", "connection.id"),
            col("config_id", "config.id"),
            col("group_ref", "group.groupRef"),
            derived("created_by_kind"),
            derived("created_by_ref"),
        ],
        volatile: &[],
        shared: false,
        coverage: Coverage::Installations,
        delete_scope: DeleteScope::Group,
        complete_with: None,
        nested: &[],
        in_0_1_0: &[
            "id",
            "project_id",
            "integration_id",
            "health_status",
            "last_operation_status",
            "connection_id",
            "config_id",
            "group_ref",
            "create_time",
            "created_by",
            "created_by_kind",
            "created_by_ref",
            "update_time",
            "extra",
        ],
    },
];

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

    /// Every table's name, in [`Table::ALL`]'s order.
    pub const NAMES: [&'static str; 8] = {
        let mut names = [""; 8];
        let mut i = 0;
        while i < 8 {
            names[i] = Table::ALL[i].spec().name;
            i += 1;
        }
        names
    };

    /// Everything declared about the table.
    pub const fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }

    /// The table's name in schema `ampersand`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The table named `name`, if it is a synced one.
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The primary-key columns, as the API keys the object.
    pub fn key_columns(self) -> &'static [&'static str] {
        self.spec().key
    }

    /// Columns that move on their own: see [`Spec::volatile`].
    pub fn volatile_columns(self) -> &'static [&'static str] {
        self.spec().volatile
    }

    /// The tables a response covers whole.
    pub fn covered_by(coverage: Coverage) -> impl Iterator<Item = Table> {
        Table::ALL
            .into_iter()
            .filter(move |t| t.spec().coverage == coverage)
    }
}

/// The name `column` of a row of `spec` has in the source-object hash; none for `extra`
/// (whose fields hash under their own names) and for derived columns. The camelCase rule
/// is written out here rather than taken from a case-conversion crate: every stored hash
/// depends on it, so no dependency upgrade may change it.
pub fn hash_name(spec: &Spec, column: &str) -> Option<std::borrow::Cow<'static, str>> {
    if column == "extra" {
        return None;
    }
    match spec.columns.iter().find(|c| c.name == column) {
        Some(declared) => declared.hashed_as.map(std::borrow::Cow::Borrowed),
        None => {
            let mut camel = String::with_capacity(column.len());
            let mut upper = false;
            for c in column.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    camel.extend(c.to_uppercase());
                    upper = false;
                } else {
                    camel.push(c);
                }
            }
            Some(std::borrow::Cow::Owned(camel))
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the job keeps about each row beside the source object: never hashed.
    const BOOKKEEPING: [&str; 6] = [
        "content_hash",
        "row_hash",
        "first_seen_at",
        "changed_at",
        "deleted_at",
        "sync_run_id",
    ];

    /// Every column of `table` as the migrations leave it, read from the dbt sources
    /// (generated from the migrated schema; tests/api/dbt.rs keeps the two equal).
    fn table_columns(table: Table) -> Vec<String> {
        let sources: serde_norway::Value = serde_norway::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sql/dbt/models/sources.yml"
        )))
        .unwrap();
        let tables = sources["sources"][0]["tables"].as_sequence().unwrap();
        let declared = tables
            .iter()
            .find(|t| t["name"].as_str() == Some(table.name()))
            .unwrap_or_else(|| panic!("the dbt sources declare table {table}"));
        declared["columns"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The hash names two or more columns of `columns` share, with the columns.
    fn shared_hash_names(spec: &Spec, columns: &[String]) -> Vec<(String, Vec<String>)> {
        let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for column in columns {
            if let Some(name) = hash_name(spec, column) {
                by_name
                    .entry(name.into_owned())
                    .or_default()
                    .push(column.clone());
            }
        }
        by_name.into_iter().filter(|(_, c)| c.len() > 1).collect()
    }

    #[test]
    fn every_spec_sits_at_its_tables_place_and_no_two_columns_share_a_hash_name() {
        for table in Table::ALL {
            let spec = table.spec();
            assert_eq!(spec.table, table);
            for column in spec.columns {
                assert!(spec.in_0_1_0.contains(&column.name), "{}", column.name);
            }
            let columns: Vec<String> = table_columns(table)
                .into_iter()
                .filter(|c| !BOOKKEEPING.contains(&c.as_str()))
                .collect();
            // A declared name the table lacks would leave the column it meant hashing
            // under the camelCase rule.
            for declared in spec.columns {
                assert!(
                    columns.iter().any(|c| c == declared.name),
                    "{table} declares column {}, which it does not have",
                    declared.name
                );
            }
            assert_eq!(
                shared_hash_names(spec, &columns),
                [],
                "columns of {table} that share a hash name (their values would hash as one field)"
            );
        }
        assert_eq!(
            hash_name(Table::Groups.spec(), "group_name"),
            Some("groupName".into())
        );
        assert_eq!(
            hash_name(Table::Connections.spec(), "group_ref"),
            Some("group.groupRef".into())
        );
        assert_eq!(hash_name(Table::Configs.spec(), "created_by_kind"), None);
        assert_eq!(hash_name(Table::Configs.spec(), "extra"), None);
    }
}
