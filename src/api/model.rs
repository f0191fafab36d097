//! The Ampersand API's payloads, mirrored from the OpenAPI schemas in
//! `shared/reference/ampersand-openapi` but tolerant of what the real API sends:
//! enums are plain strings (unknown values are kept), optional objects may be absent
//! or null, `providerApp.scopes` may be strings or arrays of strings, timestamps may
//! lack fractions or offsets, and every field no struct models lands in `extra`.
//!
//! These types hold secrets (tokens, API keys) exactly as received; `normalize` is the
//! only reader and drops them. They deliberately do not implement `Debug`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Fields of an object that no struct field models.
pub type Extra = Map<String, Value>;

/// `GET /projects/{projectIdOrName}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: Option<String>,
    pub app_name: Option<String>,
    pub org_id: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    pub entitlements: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One element of `GET /projects/{projectIdOrName}/integrations`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub id: String,
    pub project_id: Option<String>,
    pub name: Option<String>,
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    pub latest_revision: Option<Revision>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub id: Option<String>,
    pub spec_version: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    pub content: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One element of `GET /projects/{projectIdOrName}/installations`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installation {
    pub id: String,
    pub project_id: Option<String>,
    pub integration_id: Option<String>,
    pub health_status: Option<String>,
    pub last_operation_status: Option<String>,
    pub group: Option<Group>,
    pub connection: Option<Connection>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    pub config: Option<Config>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub group_ref: String,
    pub group_name: Option<String>,
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub project_id: Option<String>,
    pub provider: Option<String>,
    pub provider_app: Option<ProviderApp>,
    pub group: Option<Group>,
    pub consumer: Option<Consumer>,
    pub provider_workspace_ref: Option<String>,
    pub provider_consumer_ref: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    pub auth_scheme: Option<String>,
    pub status: Option<String>,
    pub oauth2_authorization_code: Option<OAuth2Tokens>,
    /// A secret: only its presence is stored.
    pub api_key: Option<Value>,
    pub provider_metadata: Option<Value>,
    /// Not in the public API description yet; Ampersand's own clients read it.
    pub catalog_vars: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `Oauth2AuthorizationCodeTokensOnly`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Tokens {
    pub access_token: Option<Token>,
    pub refresh_token: Option<Token>,
    #[serde(default, deserialize_with = "scopes")]
    pub scopes: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// A secret: only its presence is stored.
    pub token: Option<Value>,
    #[serde(default, deserialize_with = "timestamp")]
    pub issued_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderApp {
    pub id: String,
    pub project_id: Option<String>,
    pub external_ref: Option<String>,
    pub provider: Option<String>,
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "scopes")]
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<Value>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub update_time: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub id: String,
    pub revision_id: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub content: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `application/problem+json` error body (`ApiProblem`); every field optional.
#[derive(Debug, Default, Deserialize)]
pub struct Problem {
    pub title: Option<String>,
    pub status: Option<u16>,
    pub detail: Option<String>,
}

/// Reads an RFC 3339 time, with or without fractions; a time without an offset is
/// taken as UTC. Null reads as absent.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    parse_timestamp(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!("`{}` is not an RFC 3339 time", truncate(&text)))
    })
}

pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Scopes as the spec has them (`["a", "b"]`) or as the doc page shows them
/// (`[["a", "b"]]`), flattened in order.
fn scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scope {
        One(String),
        Many(Vec<String>),
    }
    let Some(items) = Option::<Vec<Scope>>::deserialize(d)? else {
        return Ok(None);
    };
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Scope::One(s) => flat.push(s),
            Scope::Many(many) => flat.extend(many),
        }
    }
    Ok(Some(flat))
}

/// Keeps error messages short when the offending value is long.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_read_with_or_without_fractions_and_offsets() {
        let expected = "2023-07-13T21:34:44Z";
        for text in [
            "2023-07-13T21:34:44Z",
            "2023-07-13T23:34:44+02:00",
            "2023-07-13T21:34:44",
        ] {
            assert_eq!(
                parse_timestamp(text)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                expected,
                "{text}"
            );
        }
        let micros = parse_timestamp("2024-04-22T18:55:28.456076Z").unwrap();
        assert_eq!(micros.timestamp_subsec_micros(), 456_076);
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn provider_app_scopes_are_read_as_strings_or_arrays_of_strings() {
        let nested: ProviderApp = serde_json::from_value(json!({
            "id": "p", "scopes": [["oauth", "offline"], "crm.read"]
        }))
        .unwrap();
        assert_eq!(nested.scopes.unwrap(), ["oauth", "offline", "crm.read"]);
        let null: ProviderApp = serde_json::from_value(json!({"id": "p", "scopes": null})).unwrap();
        assert!(null.scopes.is_none());
    }

    #[test]
    fn unknown_fields_and_enum_values_are_kept() {
        let inst: Installation = serde_json::from_value(json!({
            "id": "i", "healthStatus": "degraded", "group": null, "newField": {"a": 1}
        }))
        .unwrap();
        assert_eq!(inst.health_status.as_deref(), Some("degraded"));
        assert!(inst.group.is_none());
        assert_eq!(inst.extra["newField"], json!({"a": 1}));
    }
}
