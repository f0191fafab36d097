//! The bridge from API objects to table rows: one row struct per table, whose fields
//! are the table's columns in table order, and one pure function per object kind that
//! maps the object to its rows.
//!
//! Secrets are dropped here, so nothing after it can leak them: tokens and API keys
//! become `has_*` flags, every free-form value passes through [`scrubbed`], and every text
//! bound for a typed column through [`crate::scrub::redact_string`] (secret-shaped words
//! redacted; control characters kept as sent, to be escaped where text is printed).
//! Unknown fields are kept in `extra`, those of nested objects without a table of their
//! own under the object's name.
//!
//! Adding a column: the migration, the API model's field, and here the row's field and
//! its line in the object's function (see `catalog` for how it hashes).
//!
//! [`row`] says what every row is ([`Row`], [`Key`], [`Jsonb`], how times are written);
//! how a row is hashed and written for COPY is the snapshot's (`snapshot::encode`).

pub mod row;

pub use row::{JsonText, Jsonb, Key, Row};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::model::{self, Extra};
use crate::catalog::Table;
use crate::scrub::{scrub_map, scrubbed};

#[derive(Serialize)]
pub struct ProjectRow {
    pub id: String,
    pub name: Option<String>,
    pub app_name: Option<String>,
    pub org_id: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub entitlements: Option<Jsonb<Value>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct IntegrationRow {
    pub id: String,
    pub project_id: String,
    pub name: Option<String>,
    pub provider: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub latest_revision_id: Option<String>,
    pub latest_revision_spec_version: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub latest_revision_create_time: Option<DateTime<Utc>>,
    pub latest_revision_content: Option<Jsonb<JsonText>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct GroupRow {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct ConsumerRow {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct ProviderAppRow {
    pub id: String,
    pub project_id: String,
    pub provider: Option<String>,
    pub client_id: Option<String>,
    pub external_ref: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<Jsonb<Value>>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

/// `Default` lets tests build one with the fields they care about.
#[derive(Serialize, Default)]
pub struct ConnectionRow {
    pub id: String,
    pub project_id: String,
    pub provider: Option<String>,
    pub provider_app_id: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub auth_scheme: Option<String>,
    pub status: Option<String>,
    pub has_access_token: bool,
    #[serde(serialize_with = "row::time")]
    pub access_token_issued_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    #[serde(serialize_with = "row::time")]
    pub refresh_token_issued_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub oauth_scopes: Option<Vec<String>>,
    pub has_api_key: bool,
    pub provider_metadata: Option<Jsonb<Value>>,
    pub catalog_vars: Option<Jsonb<Value>>,
    pub scopes: Option<Jsonb<Value>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct ConfigRow {
    pub id: String,
    pub project_id: String,
    pub installation_id: String,
    pub revision_id: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    pub content: Option<Jsonb<JsonText>>,
    pub extra: Jsonb<Map<String, Value>>,
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
    #[serde(serialize_with = "row::time")]
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    #[serde(serialize_with = "row::time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

macro_rules! row {
    ($row:ty, $table:expr, |$r:ident| $key:expr, $time:ident) => {
        impl Row for $row {
            const TABLE: Table = $table;
            fn key(&self) -> Key<'_> {
                let $r = self;
                $key
            }
            fn update_time(&self) -> Option<DateTime<Utc>> {
                self.$time
            }
            fn extra(&self) -> &Map<String, Value> {
                &self.extra.0
            }
        }
    };
}

row!(
    ProjectRow,
    Table::Projects,
    |r| Key(&r.id, None),
    update_time
);
row!(
    IntegrationRow,
    Table::Integrations,
    |r| Key(&r.id, None),
    update_time
);
row!(
    GroupRow,
    Table::Groups,
    |r| Key(&r.project_id, Some(&r.group_ref)),
    update_time
);
row!(
    ConsumerRow,
    Table::Consumers,
    |r| Key(&r.project_id, Some(&r.consumer_ref)),
    update_time
);
row!(
    ProviderAppRow,
    Table::ProviderApps,
    |r| Key(&r.id, None),
    update_time
);
row!(
    ConnectionRow,
    Table::Connections,
    |r| Key(&r.id, None),
    update_time
);
// Configs have no updateTime; a newer revision is the closest thing. (In a snapshot a
// config ranks as its installation does: see `store::Owner`.)
row!(ConfigRow, Table::Configs, |r| Key(&r.id, None), create_time);
row!(
    InstallationRow,
    Table::Installations,
    |r| Key(&r.id, None),
    update_time
);

/// The row of a `GET /projects/{p}` response.
pub fn project(project: model::Project) -> ProjectRow {
    ProjectRow {
        id: project.id.clean(),
        name: project.name.clean(),
        app_name: project.app_name.clean(),
        org_id: project.org_id.clean(),
        create_time: project.create_time,
        update_time: project.update_time,
        entitlements: project.entitlements.map(scrubbed).map(Jsonb),
        extra: Jsonb(scrubbed_map(project.extra)),
    }
}

/// The row of one element of `GET /projects/{p}/integrations`.
pub fn integration(project_id: &str, integration: model::Integration) -> IntegrationRow {
    let revision = integration.latest_revision;
    let mut extra = integration.extra;
    if let Some(rev) = &revision {
        nest_extra(&mut extra, "latestRevision", rev.extra.clone());
    }
    IntegrationRow {
        id: integration.id.clean(),
        project_id: project_id.to_owned(),
        name: integration.name.clean(),
        provider: integration.provider.clean(),
        create_time: integration.create_time,
        update_time: integration.update_time,
        latest_revision_id: revision.as_ref().and_then(|r| r.id.clone()).clean(),
        latest_revision_spec_version: revision
            .as_ref()
            .and_then(|r| r.spec_version.clone())
            .clean(),
        latest_revision_create_time: revision.as_ref().and_then(|r| r.create_time),
        latest_revision_content: revision
            .and_then(|r| r.content)
            .map(|c| Jsonb(scrubbed_json(&c))),
        extra: Jsonb(scrubbed_map(extra)),
    }
}

/// Every row one installation makes, in the order they are stored.
pub struct InstallationRows {
    /// The installation's group, then its connection's.
    pub groups: Vec<GroupRow>,
    pub consumer: Option<ConsumerRow>,
    pub provider_app: Option<ProviderAppRow>,
    pub connection: Option<ConnectionRow>,
    pub config: Option<ConfigRow>,
    pub installation: InstallationRow,
}

/// The rows of one element of `GET /projects/{p}/installations`: the installation and
/// what it embeds. Its group is its own, or else its connection's.
pub fn installation(project_id: &str, inst: model::Installation) -> InstallationRows {
    let group_ref = inst
        .group
        .as_ref()
        .or_else(|| inst.connection.as_ref().and_then(|c| c.group.as_ref()))
        .map(|g| g.group_ref.clone().clean());
    let id = inst.id.clean();
    let mut groups: Vec<GroupRow> = inst
        .group
        .map(|g| group(project_id, g))
        .into_iter()
        .collect();
    let (connection, consumer, provider_app) = match inst.connection {
        Some(conn) => {
            let rows = connection(project_id, conn);
            groups.extend(rows.group);
            (Some(rows.connection), rows.consumer, rows.provider_app)
        }
        None => (None, None, None),
    };
    let config = inst.config.map(|c| config(project_id, &id, c));
    let created_by = inst.created_by.clean();
    let (created_by_kind, created_by_ref) = split_created_by(created_by.as_deref());
    let installation = InstallationRow {
        project_id: project_id.to_owned(),
        integration_id: inst.integration_id.clean(),
        health_status: inst.health_status.clean(),
        last_operation_status: inst.last_operation_status.clean(),
        connection_id: connection.as_ref().map(|c| c.id.clone()),
        config_id: config.as_ref().map(|c| c.id.clone()),
        group_ref,
        create_time: inst.create_time,
        created_by,
        created_by_kind,
        created_by_ref,
        update_time: inst.update_time,
        extra: Jsonb(scrubbed_map(inst.extra)),
        id,
    };
    InstallationRows {
        groups,
        consumer,
        provider_app,
        connection,
        config,
        installation,
    }
}

pub fn group(project_id: &str, group: model::Group) -> GroupRow {
    GroupRow {
        project_id: project_id.to_owned(),
        group_ref: group.group_ref.clean(),
        group_name: group.group_name.clean(),
        create_time: group.create_time,
        update_time: group.update_time,
        extra: Jsonb(scrubbed_map(group.extra)),
    }
}

pub fn consumer(project_id: &str, consumer: model::Consumer) -> ConsumerRow {
    ConsumerRow {
        project_id: project_id.to_owned(),
        consumer_ref: consumer.consumer_ref.clean(),
        consumer_name: consumer.consumer_name.clean(),
        create_time: consumer.create_time,
        update_time: consumer.update_time,
        extra: Jsonb(scrubbed_map(consumer.extra)),
    }
}

pub fn provider_app(project_id: &str, app: model::ProviderApp) -> ProviderAppRow {
    ProviderAppRow {
        id: app.id.clean(),
        project_id: project_id.to_owned(),
        provider: app.provider.clean(),
        client_id: app.client_id.clean(),
        external_ref: app.external_ref.clean(),
        scopes: app.scopes.clean(),
        metadata: app.metadata.map(scrubbed).map(Jsonb),
        create_time: app.create_time,
        update_time: app.update_time,
        extra: Jsonb(scrubbed_map(app.extra)),
    }
}

/// A connection's row and those of the objects it embeds.
pub struct ConnectionRows {
    pub group: Option<GroupRow>,
    pub consumer: Option<ConsumerRow>,
    pub provider_app: Option<ProviderAppRow>,
    pub connection: ConnectionRow,
}

pub fn connection(project_id: &str, conn: model::Connection) -> ConnectionRows {
    let group = conn.group.map(|g| group(project_id, g));
    let consumer = conn.consumer.map(|c| consumer(project_id, c));
    let provider_app = conn.provider_app.map(|a| provider_app(project_id, a));
    let mut extra = scrubbed_map(conn.extra);
    let (access, refresh, oauth_scopes) = match conn.oauth2_authorization_code {
        Some(oauth) => {
            // Nested after scrubbing the connection's own fields: the name
            // `oauth2AuthorizationCode` says "authorization", which the scrub drops whole,
            // while its unknown fields are scrubbed as a grant's (its `code` is the
            // authorization code). (Unknown fields of the token objects are not kept:
            // `accessToken` and `refreshToken` are secret names.)
            let mut grant = oauth.extra;
            crate::scrub::scrub_oauth_grant(&mut grant);
            nest_extra(&mut extra, "oauth2AuthorizationCode", grant);
            (oauth.access_token, oauth.refresh_token, oauth.scopes)
        }
        None => (None, None, None),
    };
    let present = |token: &Option<model::Token>| {
        token
            .as_ref()
            .is_some_and(|t| !matches!(t.token, None | Some(Value::Null)))
    };
    let connection = ConnectionRow {
        id: conn.id.clean(),
        project_id: project_id.to_owned(),
        provider: conn.provider.clean(),
        provider_app_id: provider_app.as_ref().map(|a| a.id.clone()),
        group_ref: group.as_ref().map(|g| g.group_ref.clone()),
        consumer_ref: consumer.as_ref().map(|c| c.consumer_ref.clone()),
        provider_workspace_ref: conn.provider_workspace_ref.clean(),
        provider_consumer_ref: conn.provider_consumer_ref.clean(),
        create_time: conn.create_time,
        update_time: conn.update_time,
        auth_scheme: conn.auth_scheme.clean(),
        status: conn.status.clean(),
        has_access_token: present(&access),
        access_token_issued_at: access.as_ref().and_then(|t| t.issued_at),
        access_token_expires_at: access.as_ref().and_then(|t| t.expires_at),
        has_refresh_token: present(&refresh),
        refresh_token_issued_at: refresh.as_ref().and_then(|t| t.issued_at),
        refresh_token_expires_at: refresh.as_ref().and_then(|t| t.expires_at),
        oauth_scopes: oauth_scopes.clean(),
        has_api_key: !matches!(conn.api_key, None | Some(Value::Null)),
        provider_metadata: conn.provider_metadata.map(scrubbed).map(Jsonb),
        catalog_vars: conn.catalog_vars.map(scrubbed).map(Jsonb),
        scopes: conn.scopes.map(scrubbed).map(Jsonb),
        extra: Jsonb(extra),
    };
    ConnectionRows {
        group,
        consumer,
        provider_app,
        connection,
    }
}

/// A config's row; `installation_id` is the (scrubbed) id of the installation that
/// embeds it.
pub fn config(project_id: &str, installation_id: &str, config: model::Config) -> ConfigRow {
    let created_by = config.created_by.clean();
    let (created_by_kind, created_by_ref) = split_created_by(created_by.as_deref());
    ConfigRow {
        id: config.id.clean(),
        project_id: project_id.to_owned(),
        installation_id: installation_id.to_owned(),
        revision_id: config.revision_id.clean(),
        create_time: config.create_time,
        created_by,
        created_by_kind,
        created_by_ref,
        content: config.content.map(|c| Jsonb(scrubbed_json(&c))),
        extra: Jsonb(scrubbed_map(config.extra)),
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

/// Text from the API as a typed column may hold it: no secret (see
/// [`crate::scrub::redact_string`]), every other character as sent. Keys too: an id that
/// is a secret is stored as `[redacted]`, not as itself.
trait Clean {
    fn clean(self) -> Self;
}

impl Clean for String {
    fn clean(self) -> Self {
        crate::scrub::redact_string(self)
    }
}

impl<T: Clean> Clean for Option<T> {
    fn clean(self) -> Self {
        self.map(Clean::clean)
    }
}

impl Clean for Vec<String> {
    fn clean(self) -> Self {
        self.into_iter().map(Clean::clean).collect()
    }
}

/// A free-form value's stored text: read in place, scrubbed, written as serde_json
/// writes the scrubbed `Value` (see [`crate::canonical`]).
pub fn scrubbed_json(raw: &model::RawJson) -> JsonText {
    let text = raw.0.get();
    // `RawJson` is checked as serde_json checks a `Value`, so this always reads.
    if let Ok(mut node) = crate::canonical::parse(text, crate::canonical::SERDE_JSON_MAX_DEPTH) {
        crate::scrub::scrub_node(&mut node);
        let mut out = String::with_capacity(text.len());
        crate::canonical::write(&mut node, &mut out);
        return JsonText::from_canonical(out);
    }
    scrubbed_json_via_value(text)
}

/// [`scrubbed_json`] through a `serde_json::Value`, as releases up to 0.4.0 made it:
/// for a text the in-place reader refuses, which a checked `RawJson` never is.
fn scrubbed_json_via_value(text: &str) -> JsonText {
    let value = serde_json::from_str::<Value>(text)
        .map(scrubbed)
        .unwrap_or(Value::Null);
    JsonText::from_canonical(value.to_string())
}

fn scrubbed_map(mut map: Map<String, Value>) -> Map<String, Value> {
    scrub_map(&mut map);
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROJECT: &str = "proj-1";

    fn installation_json() -> Value {
        json!({
            "id": "inst-1", "projectId": PROJECT, "integrationId": "int-1",
            "healthStatus": "some-new-status", "createdBy": "consumer:user-7",
            "futureField": {"a": 1},
            "connection": {
                "id": "conn-1", "provider": "salesforce",
                "group": {"groupRef": "grp-1", "groupName": "Acme"},
                "consumer": {"consumerRef": "user-7", "consumerName": "Zoë"},
                "providerApp": {"id": "papp-1", "clientId": "3MVG9", "metadata": {"client_secret": "cs_live_Zq81"}},
                "oauth2AuthorizationCode": {
                    "accessToken": {"token": "00D5g000004Sn!AQ4AQFjR8x", "issuedAt": "2024-04-22T18:55:28Z"},
                    "refreshToken": {"token": "5Aep861TSESvWeug_ztpnAk6B"},
                    "scopes": ["api"], "tokenType": "bearer", "grantedBy": "admin"
                },
                "apiKey": "sk_live_51HqLyjWDarjtT1zd",
                "catalogVars": {"region": "eu-west-1", "password": "hunter2-Qx7"}
            },
            "config": {"id": "cfg-1", "createdBy": "builder:bld-3", "content": {"read": {}}}
        })
    }

    fn rows(value: Value) -> InstallationRows {
        installation(PROJECT, serde_json::from_value(value).unwrap())
    }

    #[test]
    fn secrets_become_flags_and_reach_no_row() {
        let rows = rows(installation_json());
        let connection = rows.connection.as_ref().unwrap();
        assert!(
            connection.has_access_token && connection.has_refresh_token && connection.has_api_key
        );
        assert_eq!(
            connection.catalog_vars,
            Some(Jsonb(json!({"region": "eu-west-1"})))
        );
        let text = serde_json::to_string(&(
            &rows.installation,
            connection,
            rows.provider_app.as_ref().unwrap(),
            rows.config.as_ref().unwrap(),
        ))
        .unwrap();
        for secret in [
            "00D5g000004Sn",
            "5Aep861TSE",
            "sk_live_51Hq",
            "cs_live_Zq81",
            "hunter2",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn created_by_is_kept_and_split_into_kind_and_ref() {
        let rows = rows(installation_json());
        let inst = &rows.installation;
        assert_eq!(inst.created_by.as_deref(), Some("consumer:user-7"));
        assert_eq!(inst.created_by_kind.as_deref(), Some("consumer"));
        assert_eq!(inst.created_by_ref.as_deref(), Some("user-7"));
        let config = rows.config.as_ref().unwrap();
        assert_eq!(
            (
                config.created_by_kind.as_deref(),
                config.created_by_ref.as_deref()
            ),
            (Some("builder"), Some("bld-3"))
        );
        assert_eq!(
            split_created_by(Some("no-kind")),
            (None, Some("no-kind".into()))
        );
    }

    #[test]
    fn unknown_fields_and_enum_values_are_kept_nested_ones_under_their_object() {
        let rows = rows(installation_json());
        assert_eq!(
            rows.installation.health_status.as_deref(),
            Some("some-new-status")
        );
        assert_eq!(
            rows.installation.extra.0,
            *json!({"futureField": {"a": 1}}).as_object().unwrap()
        );
        let connection = rows.connection.as_ref().unwrap();
        // tokenType names a secret (token) and is dropped; grantedBy is kept.
        assert_eq!(
            connection.extra.0,
            *json!({"oauth2AuthorizationCode": {"grantedBy": "admin"}})
                .as_object()
                .unwrap()
        );
    }

    #[test]
    fn references_follow_the_embedded_objects_and_the_group_falls_back_to_the_connections() {
        let rows = rows(installation_json());
        let inst = &rows.installation;
        assert_eq!(inst.connection_id.as_deref(), Some("conn-1"));
        assert_eq!(inst.config_id.as_deref(), Some("cfg-1"));
        assert_eq!(
            inst.group_ref.as_deref(),
            Some("grp-1"),
            "no group of its own: the connection's"
        );
        assert_eq!(rows.config.as_ref().unwrap().installation_id, "inst-1");
        let connection = rows.connection.as_ref().unwrap();
        assert_eq!(connection.provider_app_id.as_deref(), Some("papp-1"));
        assert_eq!(connection.consumer_ref.as_deref(), Some("user-7"));
        assert_eq!(rows.groups.len(), 1);
    }

    #[test]
    fn typed_text_loses_its_secrets_but_keeps_its_control_characters() {
        let mut value = installation_json();
        value["connection"]["group"]["groupName"] =
            json!("Acme\t\r\n\u{1b}[2K Bearer sk-ant-api03-x");
        let rows = rows(value);
        assert_eq!(
            rows.groups[0].group_name.as_deref(),
            Some("Acme\t\r\n\u{1b}[2K Bearer [redacted]")
        );
    }
}
