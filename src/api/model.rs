//! The Ampersand API's payloads, mirrored from the OpenAPI schemas in
//! `shared/reference/ampersand-openapi` but tolerant of what the real API sends:
//! enums are plain strings (unknown values are kept), optional objects may be absent
//! or null, `providerApp.scopes` may be strings or arrays of strings, timestamps may
//! lack fractions or offsets, and every field no struct models lands in `extra`.
//!
//! These types hold secrets (tokens, API keys) exactly as received; the `bridge` is the
//! only reader, and drops them (through `scrub`) as it maps them to rows. They
//! deliberately do not implement `Debug`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Fields of an object that no struct field models.
pub type Extra = Map<String, Value>;

/// A free-form value (a config's or revision's `content`) kept as its JSON text, for the
/// bridge to read in place (see [`crate::canonical`]): one copy of the text instead of a
/// `Value` tree. Refused where serde_json would refuse its `Value`: nested deeper than
/// serde_json reads (counting the installation and config around it), or holding a
/// lone surrogate.
pub struct RawJson(pub Box<serde_json::value::RawValue>);

/// The levels of objects around a config's `content` in an installation element.
const CONTENT_OUTER_LEVELS: usize = 2;

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        crate::canonical::check(raw.get(), CONTENT_OUTER_LEVELS)
            .map_err(serde::de::Error::custom)?;
        Ok(RawJson(raw))
    }
}

/// Defines an API object: a struct of the fields listed, each read from its JSON key
/// (`via` a reader of its own where the plain one will not do), and `extra`, every
/// other field. Written out rather than derived with `#[serde(flatten)]`, which first
/// buffers the whole object in serde's generic `Content` tree and then reads each field
/// from that copy: for an installation, its config and connection included, every byte
/// twice (about a fifth of the CPU of a sync's read phase). Missing fields read as `None` (a missing `String` is an error), a
/// field given twice is an error, and an unknown one given twice keeps its last value,
/// as the derived code did.
macro_rules! api_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = $key:literal $(via $via:ident)?,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            pub extra: Extra,
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> serde::de::Visitor<'de> for Fields {
                    type Value = $name;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($name)))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        $( let mut $field: Option<$ty> = None; )*
                        let mut extra = Extra::new();
                        while let Some(FieldName(key)) = map.next_key::<FieldName<'de>>()? {
                            match &*key {
                                $( $key => {
                                    if $field.is_some() {
                                        return Err(serde::de::Error::duplicate_field($key));
                                    }
                                    $field = Some(read_value!(map, $ty $(, $via)?));
                                } )*
                                _ => {
                                    let value: Value = map.next_value()?;
                                    extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok($name {
                            $( $field: match $field {
                                Some(value) => value,
                                None => Absent::absent($key)?,
                            }, )*
                            extra,
                        })
                    }
                }
                d.deserialize_map(Fields)
            }
        }
    };
}

/// One field's value, read as its type or through its `via` reader.
macro_rules! read_value {
    ($map:ident, $ty:ty) => {
        $map.next_value::<$ty>()?
    };
    ($map:ident, $ty:ty, $via:ident) => {
        $map.next_value::<$via>()?.0
    };
}

/// A field name, borrowed from the JSON text when it has no escapes.
struct FieldName<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = FieldName<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FieldName(std::borrow::Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldName(std::borrow::Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(FieldName(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(Name)
    }
}

/// What a field that is not in the object reads as.
trait Absent: Sized {
    fn absent<E: serde::de::Error>(key: &'static str) -> Result<Self, E>;
}

impl<T> Absent for Option<T> {
    fn absent<E: serde::de::Error>(_: &'static str) -> Result<Self, E> {
        Ok(None)
    }
}

impl Absent for String {
    fn absent<E: serde::de::Error>(key: &'static str) -> Result<Self, E> {
        Err(E::missing_field(key))
    }
}

/// A time read by [`timestamp`].
struct Timestamp(Option<DateTime<Utc>>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        timestamp(d).map(Timestamp)
    }
}

/// Scopes read by [`scopes`].
struct Scopes(Option<Vec<String>>);

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scopes(d).map(Scopes)
    }
}

api_object! {
    /// `GET /projects/{projectIdOrName}`.
    pub struct Project {
        pub id: String = "id",
        pub name: Option<String> = "name",
        pub app_name: Option<String> = "appName",
        pub org_id: Option<String> = "orgId",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
        pub entitlements: Option<Value> = "entitlements",
    }
}

api_object! {
    /// One element of `GET /projects/{projectIdOrName}/integrations`.
    pub struct Integration {
        pub id: String = "id",
        pub project_id: Option<String> = "projectId",
        pub name: Option<String> = "name",
        pub provider: Option<String> = "provider",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
        pub latest_revision: Option<Revision> = "latestRevision",
    }
}

api_object! {
    pub struct Revision {
        pub id: Option<String> = "id",
        pub spec_version: Option<String> = "specVersion",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub content: Option<RawJson> = "content",
    }
}

api_object! {
    /// One element of `GET /projects/{projectIdOrName}/installations`.
    pub struct Installation {
        pub id: String = "id",
        pub project_id: Option<String> = "projectId",
        pub integration_id: Option<String> = "integrationId",
        pub health_status: Option<String> = "healthStatus",
        pub last_operation_status: Option<String> = "lastOperationStatus",
        pub group: Option<Group> = "group",
        pub connection: Option<Connection> = "connection",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub created_by: Option<String> = "createdBy",
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
        pub config: Option<Config> = "config",
    }
}

api_object! {
    pub struct Group {
        pub group_ref: String = "groupRef",
        pub group_name: Option<String> = "groupName",
        pub project_id: Option<String> = "projectId",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
    }
}

api_object! {
    pub struct Consumer {
        pub consumer_ref: String = "consumerRef",
        pub consumer_name: Option<String> = "consumerName",
        pub project_id: Option<String> = "projectId",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
    }
}

api_object! {
    pub struct Connection {
        pub id: String = "id",
        pub project_id: Option<String> = "projectId",
        pub provider: Option<String> = "provider",
        pub provider_app: Option<ProviderApp> = "providerApp",
        pub group: Option<Group> = "group",
        pub consumer: Option<Consumer> = "consumer",
        pub provider_workspace_ref: Option<String> = "providerWorkspaceRef",
        pub provider_consumer_ref: Option<String> = "providerConsumerRef",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
        pub auth_scheme: Option<String> = "authScheme",
        pub status: Option<String> = "status",
        pub oauth2_authorization_code: Option<OAuth2Tokens> = "oauth2AuthorizationCode",
    /// A secret: only its presence is stored.
        pub api_key: Option<Value> = "apiKey",
        pub provider_metadata: Option<Value> = "providerMetadata",
    /// Not in the public API description yet; Ampersand's own clients read it.
        pub catalog_vars: Option<Value> = "catalogVars",
    /// Not in the public API description either; the amp CLI's `Connection` reads it.
        pub scopes: Option<Value> = "scopes",
    }
}

api_object! {
    /// `Oauth2AuthorizationCodeTokensOnly`.
    pub struct OAuth2Tokens {
        pub access_token: Option<Token> = "accessToken",
        pub refresh_token: Option<Token> = "refreshToken",
        pub scopes: Option<Vec<String>> = "scopes" via Scopes,
    }
}

api_object! {
    pub struct Token {
    /// A secret: only its presence is stored.
        pub token: Option<Value> = "token",
        pub issued_at: Option<DateTime<Utc>> = "issuedAt" via Timestamp,
        pub expires_at: Option<DateTime<Utc>> = "expiresAt" via Timestamp,
    }
}

api_object! {
    pub struct ProviderApp {
        pub id: String = "id",
        pub project_id: Option<String> = "projectId",
        pub external_ref: Option<String> = "externalRef",
        pub provider: Option<String> = "provider",
        pub client_id: Option<String> = "clientId",
        pub scopes: Option<Vec<String>> = "scopes" via Scopes,
        pub metadata: Option<Value> = "metadata",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub update_time: Option<DateTime<Utc>> = "updateTime" via Timestamp,
    }
}

api_object! {
    pub struct Config {
        pub id: String = "id",
        pub revision_id: Option<String> = "revisionId",
        pub create_time: Option<DateTime<Utc>> = "createTime" via Timestamp,
        pub created_by: Option<String> = "createdBy",
        pub content: Option<RawJson> = "content",
    }
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
///
/// A time outside the years 1 to 9999 (in UTC) is an error, so its record is rejected:
/// PostgreSQL has no year 0 (`0000-01-01T00:00:00Z` fails the COPY, and with it every
/// run), and RFC 3339 writes no year past 9999. Every year between is within what
/// `timestamptz` holds (4713 BC to 294276 AD).
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    use chrono::Datelike;
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let at = parse_timestamp(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("`{}` is not an RFC 3339 time", truncate(&text)))
    })?;
    if !(1..=9999).contains(&at.year()) {
        return Err(serde::de::Error::custom(format!(
            "the time {} is in the year {} (UTC), outside the years 1 to 9999 that ampsync stores: PostgreSQL has no year 0 and RFC 3339 no year past 9999",
            truncate(&text),
            at.year()
        )));
    }
    Ok(Some(at))
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
    fn times_outside_the_years_1_to_9999_in_utc_are_errors() {
        let read = |time: &str| {
            serde_json::from_value::<Group>(json!({"groupRef": "g", "createTime": time}))
                .map(|g| g.create_time)
                .map_err(|e| e.to_string())
        };
        for time in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-01-01T00:00:00",
        ] {
            assert!(read(time).is_ok(), "{time}");
        }
        for (time, year) in [
            ("0000-01-01T00:00:00Z", "year 0 "),
            ("0001-01-01T00:30:00+01:00", "year 0 "),
            ("9999-12-31T23:00:00-05:00", "year 10000 "),
        ] {
            let error = read(time).unwrap_err();
            assert!(error.contains(year), "{time}: {error}");
        }
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
    fn objects_read_from_text_as_from_values_with_the_derived_rules() {
        let text = r#"{"id": "i", "createTime": "2024-01-02T03:04:05Z", "group": {"groupRef": "g"},
                       "new\u0046ield": [1, 2.50], "config": null}"#;
        let from_text: Installation = serde_json::from_str(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        let from_value = Installation::deserialize(&value).unwrap();
        for inst in [&from_text, &from_value] {
            assert_eq!(inst.id, "i");
            assert_eq!(inst.group.as_ref().unwrap().group_ref, "g");
            assert_eq!(inst.create_time, parse_timestamp("2024-01-02T03:04:05Z"));
            assert!(inst.config.is_none() && inst.update_time.is_none());
            // An escaped name is unescaped; numbers keep their text.
            assert_eq!(inst.extra["newField"].to_string(), "[1,2.50]");
        }
        let error = |text: &str| {
            serde_json::from_str::<Installation>(text)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(error(r#"{"projectId": "p"}"#).contains("missing field `id`"));
        assert!(error(r#"{"id": "a", "id": "b"}"#).contains("duplicate field `id`"));
        assert!(error(r#"{"id": 5}"#).contains("invalid type: integer `5`, expected a string"));
        assert!(error(r#"["i"]"#).contains("expected struct Installation"));
        let last: Installation = serde_json::from_str(r#"{"id": "i", "x": 1, "x": 2}"#).unwrap();
        assert_eq!(last.extra["x"], json!(2));
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
