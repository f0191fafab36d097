//! The bridge from API payloads to table rows: a pure function of one snapshot.
//!
//! One snapshot (a project, its integrations, its installations) becomes rows of all
//! eight tables. Objects many installations share (a connection, group, consumer or
//! provider app) appear once per key. When two copies of one key disagree, the one with
//! the later `updateTime` wins, then the one with the greater row hash (see
//! [`PreparedRow::wins_over`]), so the result never depends on the order of the response.
//!
//! Secrets are dropped here: tokens and API keys become `has_*` flags, and every
//! free-form value passes through [`scrub`], so nothing downstream can leak them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::api::model::{self, Extra};
use crate::api::stream::ElementSink;
use crate::rows::*;
use crate::scrub::{scrub, scrub_map};

/// Why an object holding `\u0000` is rejected: PostgreSQL text and jsonb cannot hold it,
/// so storing it would fail the whole run, every run.
const NUL: &str = "holds a NUL character (\\u0000), which PostgreSQL cannot store";

/// A source object that could not be read.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Which response it came from: `installations` or `integrations`.
    pub source: &'static str,
    /// Its index in that response's array.
    pub position: u64,
    pub reason: String,
    /// The object, scrubbed of secrets.
    pub payload: Value,
}

/// Rows of one project snapshot, de-duplicated by key.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub project_id: String,
    rows: BTreeMap<Table, HashMap<String, PreparedRow>>,
    /// Tables whose every row of the project is in this snapshot; only these may have
    /// rows soft-deleted. (`import` without an integrations file does not cover
    /// `integrations`, say.)
    covered: BTreeSet<Table>,
    pub rejected: Vec<Rejected>,
    /// Keys that arrived in disagreeing copies, per table.
    pub conflicts: BTreeMap<Table, u64>,
    /// Installation ids that arrived more than once.
    pub duplicate_installations: u64,
}

impl Snapshot {
    pub fn new(project_id: impl Into<String>) -> Self {
        Snapshot {
            project_id: project_id.into(),
            ..Default::default()
        }
    }

    pub fn rows(&self, table: Table) -> Option<&HashMap<String, PreparedRow>> {
        self.rows.get(&table)
    }

    pub fn row_count(&self, table: Table) -> usize {
        self.rows.get(&table).map_or(0, HashMap::len)
    }

    pub fn covers(&self, table: Table) -> bool {
        self.covered.contains(&table)
    }

    /// Marks the tables an installations response fills completely.
    pub fn cover_installations(&mut self) {
        self.covered.extend([
            Table::Groups,
            Table::Consumers,
            Table::ProviderApps,
            Table::Connections,
            Table::Configs,
            Table::Installations,
        ]);
    }

    pub fn add_project(&mut self, project: model::Project) {
        let row = ProjectRow {
            id: project.id,
            name: project.name,
            app_name: project.app_name,
            org_id: project.org_id,
            create_time: project.create_time,
            update_time: project.update_time,
            entitlements: project.entitlements.map(scrubbed),
            extra: scrubbed_map(project.extra),
        };
        self.covered.insert(Table::Projects);
        self.insert(Table::Projects, &row, row.update_time);
    }

    /// Adds the integrations response; elements that cannot be read are rejected.
    pub fn add_integrations(&mut self, integrations: Vec<Value>) {
        self.covered.insert(Table::Integrations);
        for (position, mut value) in integrations.into_iter().enumerate() {
            if crate::scrub::replace_nul(&mut value) {
                self.reject("integrations", position as u64, NUL.into(), value);
                continue;
            }
            match serde_json::from_value::<model::Integration>(value.clone()) {
                Ok(integration) => self.add_integration(integration),
                Err(e) => self.reject("integrations", position as u64, e.to_string(), value),
            }
        }
    }

    fn add_integration(&mut self, integration: model::Integration) {
        let revision = integration.latest_revision;
        let mut extra = integration.extra;
        if let Some(rev) = &revision {
            nest_extra(&mut extra, "latestRevision", rev.extra.clone());
        }
        let row = IntegrationRow {
            id: integration.id,
            project_id: self.project_id.clone(),
            name: integration.name,
            provider: integration.provider,
            create_time: integration.create_time,
            update_time: integration.update_time,
            latest_revision_id: revision.as_ref().and_then(|r| r.id.clone()),
            latest_revision_spec_version: revision.as_ref().and_then(|r| r.spec_version.clone()),
            latest_revision_create_time: revision.as_ref().and_then(|r| r.create_time),
            latest_revision_content: revision.and_then(|r| r.content).map(scrubbed),
            extra: scrubbed_map(extra),
        };
        self.insert(Table::Integrations, &row, row.update_time);
    }

    /// Adds one element of the installations response, found at `position`; an element
    /// that cannot be read, or that belongs to another project, is rejected.
    pub fn add_installation_value(&mut self, position: u64, mut value: Value) {
        if crate::scrub::replace_nul(&mut value) {
            return self.reject("installations", position, NUL.into(), value);
        }
        let parsed = serde_json::from_value::<model::Installation>(value.clone());
        match parsed {
            Ok(inst) => match inst.project_id.as_deref() {
                Some(other) if other != self.project_id => {
                    let reason = format!("belongs to project {other}, not {}", self.project_id);
                    self.reject("installations", position, reason, value);
                }
                _ => self.add_installation(inst),
            },
            Err(e) => self.reject("installations", position, e.to_string(), value),
        }
    }

    fn add_installation(&mut self, inst: model::Installation) {
        let group_ref = inst
            .group
            .as_ref()
            .or_else(|| inst.connection.as_ref().and_then(|c| c.group.as_ref()))
            .map(|g| g.group_ref.clone());
        if let Some(group) = inst.group {
            self.add_group(group);
        }
        let connection_id = inst.connection.map(|c| self.add_connection(c));
        let config_id = inst.config.map(|c| self.add_config(c, &inst.id));
        let (created_by_kind, created_by_ref) = split_created_by(inst.created_by.as_deref());
        let row = InstallationRow {
            id: inst.id,
            project_id: self.project_id.clone(),
            integration_id: inst.integration_id,
            health_status: inst.health_status,
            last_operation_status: inst.last_operation_status,
            connection_id,
            config_id,
            group_ref,
            create_time: inst.create_time,
            created_by: inst.created_by,
            created_by_kind,
            created_by_ref,
            update_time: inst.update_time,
            extra: scrubbed_map(inst.extra),
        };
        if self
            .rows(Table::Installations)
            .is_some_and(|rows| rows.contains_key(&row.id))
        {
            self.duplicate_installations += 1;
        }
        self.insert(Table::Installations, &row, row.update_time);
    }

    fn add_group(&mut self, group: model::Group) {
        let row = GroupRow {
            project_id: self.project_id.clone(),
            group_ref: group.group_ref,
            group_name: group.group_name,
            create_time: group.create_time,
            update_time: group.update_time,
            extra: scrubbed_map(group.extra),
        };
        self.insert(Table::Groups, &row, row.update_time);
    }

    fn add_consumer(&mut self, consumer: model::Consumer) {
        let row = ConsumerRow {
            project_id: self.project_id.clone(),
            consumer_ref: consumer.consumer_ref,
            consumer_name: consumer.consumer_name,
            create_time: consumer.create_time,
            update_time: consumer.update_time,
            extra: scrubbed_map(consumer.extra),
        };
        self.insert(Table::Consumers, &row, row.update_time);
    }

    fn add_provider_app(&mut self, app: model::ProviderApp) -> String {
        let row = ProviderAppRow {
            id: app.id,
            project_id: self.project_id.clone(),
            provider: app.provider,
            client_id: app.client_id,
            external_ref: app.external_ref,
            scopes: app.scopes,
            metadata: app.metadata.map(scrubbed),
            create_time: app.create_time,
            update_time: app.update_time,
            extra: scrubbed_map(app.extra),
        };
        self.insert(Table::ProviderApps, &row, row.update_time);
        row.id
    }

    fn add_connection(&mut self, conn: model::Connection) -> String {
        let group_ref = conn.group.as_ref().map(|g| g.group_ref.clone());
        let consumer_ref = conn.consumer.as_ref().map(|c| c.consumer_ref.clone());
        if let Some(group) = conn.group {
            self.add_group(group);
        }
        if let Some(consumer) = conn.consumer {
            self.add_consumer(consumer);
        }
        let provider_app_id = conn.provider_app.map(|app| self.add_provider_app(app));

        let mut extra = conn.extra;
        let (access, refresh, oauth_scopes) = match conn.oauth2_authorization_code {
            Some(oauth) => {
                // Unknown fields of the token objects are not kept: they sit under
                // `accessToken`/`refreshToken`, names the secret scrub drops whole.
                nest_extra(&mut extra, "oauth2AuthorizationCode", oauth.extra);
                (oauth.access_token, oauth.refresh_token, oauth.scopes)
            }
            None => (None, None, None),
        };
        let present = |token: &Option<model::Token>| {
            token
                .as_ref()
                .is_some_and(|t| !matches!(t.token, None | Some(Value::Null)))
        };
        let row = ConnectionRow {
            id: conn.id,
            project_id: self.project_id.clone(),
            provider: conn.provider,
            provider_app_id,
            group_ref,
            consumer_ref,
            provider_workspace_ref: conn.provider_workspace_ref,
            provider_consumer_ref: conn.provider_consumer_ref,
            create_time: conn.create_time,
            update_time: conn.update_time,
            auth_scheme: conn.auth_scheme,
            status: conn.status,
            has_access_token: present(&access),
            access_token_issued_at: access.as_ref().and_then(|t| t.issued_at),
            access_token_expires_at: access.as_ref().and_then(|t| t.expires_at),
            has_refresh_token: present(&refresh),
            refresh_token_issued_at: refresh.as_ref().and_then(|t| t.issued_at),
            refresh_token_expires_at: refresh.as_ref().and_then(|t| t.expires_at),
            oauth_scopes,
            has_api_key: !matches!(conn.api_key, None | Some(Value::Null)),
            provider_metadata: conn.provider_metadata.map(scrubbed),
            extra: scrubbed_map(extra),
        };
        self.insert(Table::Connections, &row, row.update_time);
        row.id
    }

    fn add_config(&mut self, config: model::Config, installation_id: &str) -> String {
        let (created_by_kind, created_by_ref) = split_created_by(config.created_by.as_deref());
        let row = ConfigRow {
            id: config.id,
            project_id: self.project_id.clone(),
            installation_id: installation_id.to_owned(),
            revision_id: config.revision_id,
            create_time: config.create_time,
            created_by: config.created_by,
            created_by_kind,
            created_by_ref,
            content: config.content.map(scrubbed),
            extra: scrubbed_map(config.extra),
        };
        // Configs have no updateTime; a newer revision is the closest thing.
        self.insert(Table::Configs, &row, row.create_time);
        row.id
    }

    fn insert<R: serde::Serialize>(
        &mut self,
        table: Table,
        row: &R,
        update_time: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let prepared = PreparedRow::new(table, row, update_time);
        let rows = self.rows.entry(table).or_default();
        match rows.get(&prepared.key) {
            None => {
                rows.insert(prepared.key.clone(), prepared);
            }
            Some(existing) if existing.row_hash == prepared.row_hash => {}
            Some(existing) => {
                *self.conflicts.entry(table).or_default() += 1;
                if prepared.wins_over(existing) {
                    rows.insert(prepared.key.clone(), prepared);
                }
            }
        }
    }

    fn reject(&mut self, source: &'static str, position: u64, reason: String, payload: Value) {
        self.rejected.push(Rejected {
            source,
            position,
            reason: crate::scrub::scrub_reason(&reason),
            payload: scrubbed(payload),
        });
    }
}

impl ElementSink for Snapshot {
    fn element(&mut self, position: u64, value: Value) {
        self.add_installation_value(position, value);
    }
}

/// `consumer:consumer-123` → (`consumer`, `consumer-123`); text without a kind is all ref.
fn split_created_by(created_by: Option<&str>) -> (Option<String>, Option<String>) {
    match created_by.map(|c| c.split_once(':')) {
        Some(Some((kind, reference))) => (Some(kind.to_owned()), Some(reference.to_owned())),
        Some(None) => (None, created_by.map(str::to_owned)),
        None => (None, None),
    }
}

/// Keeps the unknown fields of a nested object that has no table of its own under its
/// field name in the parent's `extra`.
fn nest_extra(extra: &mut Extra, field: &str, nested: Extra) {
    if nested.is_empty() {
        return;
    }
    match extra.get_mut(field) {
        Some(Value::Object(existing)) => existing.extend(nested),
        _ => {
            extra.insert(field.to_owned(), Value::Object(nested));
        }
    }
}

fn scrubbed(mut value: Value) -> Value {
    scrub(&mut value);
    value
}

fn scrubbed_map(mut map: Map<String, Value>) -> Map<String, Value> {
    scrub_map(&mut map);
    map
}
