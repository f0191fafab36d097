//! Rows of the target tables (schema `ampersand`, see `migrations/`), separate from the
//! API's types: one struct per table whose fields are the table's columns, in table
//! order. The [`Encoder`] turns a row into what the apply step needs: its content
//! hashes and its COPY text line (see `copy_text`), in one pass over its fields and
//! without building a JSON tree.
//!
//! The hashes are those of the row as a JSON object with its keys sorted (what
//! `serde_json` writes for a `Map`), so they stay the same from release to release: a
//! changed hash means a new history version.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::ser::{self, Impossible};
use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::copy_text::Jsonb;

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

#[derive(Serialize)]
pub struct ProjectRow {
    pub id: String,
    pub name: Option<String>,
    pub app_name: Option<String>,
    pub org_id: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
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
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub latest_revision_id: Option<String>,
    pub latest_revision_spec_version: Option<String>,
    pub latest_revision_create_time: Option<DateTime<Utc>>,
    pub latest_revision_content: Option<Jsonb<Value>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct GroupRow {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct ConsumerRow {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
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
    pub create_time: Option<DateTime<Utc>>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
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
    pub provider_metadata: Option<Jsonb<Value>>,
    pub extra: Jsonb<Map<String, Value>>,
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
    pub content: Option<Jsonb<Value>>,
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
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

/// A row of one of the synced tables.
pub trait Row: Serialize {
    const TABLE: Table;
    /// The key columns' values, as [`Table::key_columns`] lists them.
    fn key(&self) -> Key<'_>;
    /// The source's own `updateTime`, used to pick between disagreeing copies.
    fn update_time(&self) -> Option<DateTime<Utc>>;
}

/// A key: one column's value, or two for `groups` and `consumers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key<'a>(pub &'a str, pub Option<&'a str>);

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
// Configs have no updateTime; a newer revision is the closest thing.
row!(ConfigRow, Table::Configs, |r| Key(&r.id, None), create_time);
row!(
    InstallationRow,
    Table::Installations,
    |r| Key(&r.id, None),
    update_time
);

/// The first 16 bytes of a BLAKE3 digest; stored as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 16]);

impl Hash {
    /// The 32 hex digits the tables store.
    pub fn hex(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[(b >> 4) as usize];
            out[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
        out
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

/// What [`Encoder::encode`] finds out about a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Hash of the versioned content: every column but the volatile ones.
    pub content_hash: Hash,
    /// Hash of every column.
    pub row_hash: Hash,
}

/// Encodes rows, reusing its buffers from one row to the next.
#[derive(Default)]
pub struct Encoder {
    /// The row's COPY text after [`Encoder::encode`]: its columns in table order, then
    /// `content_hash` and `row_hash`, tab-separated, no newline.
    pub line: Vec<u8>,
    /// Each column's JSON text, back to back, for the hashes.
    json: Vec<u8>,
    fields: Vec<(&'static str, Range<usize>)>,
    /// The column names, in the order the row wrote them.
    order: Vec<&'static str>,
    scratch: Vec<u8>,
}

impl Encoder {
    /// Encodes `row` into [`Encoder::line`]; returns its hashes.
    pub fn encode<R: Row>(&mut self, row: &R) -> Result<Encoded, crate::copy_text::Error> {
        self.line.clear();
        self.json.clear();
        self.fields.clear();
        row.serialize(RowSerializer(self))?;

        // The JSON object of the columns, keys sorted, hashed as it would be written.
        let json = &self.json;
        self.fields.sort_unstable_by_key(|(name, _)| *name);
        let volatile = R::TABLE.volatile_columns();
        let mut row_hasher = blake3::Hasher::new();
        let mut content_hasher = (!volatile.is_empty()).then(blake3::Hasher::new);
        let mut first = (true, true);
        row_hasher.update(b"{");
        if let Some(h) = &mut content_hasher {
            h.update(b"{");
        }
        for (name, range) in &self.fields {
            let feed = |h: &mut blake3::Hasher, first: &mut bool| {
                if !*first {
                    h.update(b",");
                }
                *first = false;
                // Column names are plain identifiers: JSON needs no escapes for them.
                h.update(b"\"");
                h.update(name.as_bytes());
                h.update(b"\":");
                h.update(&json[range.clone()]);
            };
            feed(&mut row_hasher, &mut first.0);
            if let Some(h) = &mut content_hasher {
                if !volatile.contains(name) {
                    feed(h, &mut first.1);
                }
            }
        }
        row_hasher.update(b"}");
        let row_hash = truncate(&row_hasher);
        let content_hash = match &mut content_hasher {
            Some(h) => {
                h.update(b"}");
                truncate(h)
            }
            None => row_hash,
        };
        for hash in [content_hash, row_hash] {
            self.line.push(b'\t');
            self.line.extend_from_slice(&hash.hex());
        }
        Ok(Encoded {
            content_hash,
            row_hash,
        })
    }

    /// The columns of the last row's [`Encoder::line`], in order: its fields, then
    /// `content_hash` and `row_hash`.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut columns = self.order.clone();
        columns.extend(["content_hash", "row_hash"]);
        columns
    }
}

/// Serializes a row struct: each field's COPY text goes to the line, its JSON text to
/// the hash input.
struct RowSerializer<'a>(&'a mut Encoder);

impl ser::SerializeStruct for RowSerializer<'_> {
    type Ok = ();
    type Error = crate::copy_text::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        let e = &mut *self.0;
        if !e.order.is_empty() {
            e.line.push(b'\t');
        }
        e.order.push(name);
        crate::copy_text::write_value(value, &mut e.line, &mut e.scratch)?;
        let start = e.json.len();
        serde_json::to_writer(&mut e.json, value).map_err(ser::Error::custom)?;
        e.fields.push((name, start..e.json.len()));
        Ok(())
    }

    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn not_a_row<T>() -> Result<T, crate::copy_text::Error> {
    Err(ser::Error::custom("a row is a struct of named fields"))
}

impl<'a> ser::Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = crate::copy_text::Error;
    type SerializeSeq = Impossible<(), Self::Error>;
    type SerializeTuple = Impossible<(), Self::Error>;
    type SerializeTupleStruct = Impossible<(), Self::Error>;
    type SerializeTupleVariant = Impossible<(), Self::Error>;
    type SerializeMap = Impossible<(), Self::Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Self::Error>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Self::Error> {
        self.0.order.clear();
        Ok(self)
    }

    fn serialize_bool(self, _: bool) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_i8(self, _: i8) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_i16(self, _: i16) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_i32(self, _: i32) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_i64(self, _: i64) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_u8(self, _: u8) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_u16(self, _: u16) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_u32(self, _: u32) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_u64(self, _: u64) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_f32(self, _: f32) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_f64(self, _: f64) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_char(self, _: char) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_str(self, _: &str) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_none(self) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_unit(self) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Self::Error> {
        not_a_row()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        not_a_row()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        not_a_row()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        not_a_row()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        not_a_row()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        not_a_row()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        not_a_row()
    }
}

fn truncate(hasher: &blake3::Hasher) -> Hash {
    let mut out = [0; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    Hash(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The hash as releases before the encoder computed it: the row as a serde_json map
    /// (keys sorted), volatile columns left out for the content hash.
    fn hash_as_before<R: Row>(row: &R, leave_out: &[&str]) -> String {
        let Value::Object(mut columns) = serde_json::to_value(row).unwrap() else {
            panic!("rows are objects")
        };
        columns.retain(|c, _| !leave_out.contains(&c.as_str()));
        blake3::hash(&serde_json::to_vec(&columns).unwrap()).to_hex()[..32].to_owned()
    }

    fn connection() -> ConnectionRow {
        let at = |s| Some(crate::api::model::parse_timestamp(s).unwrap());
        ConnectionRow {
            id: "conn-1".into(),
            project_id: "p".into(),
            provider: Some("salesforce".into()),
            provider_app_id: None,
            group_ref: Some("grp\t\"1\"\\".into()),
            consumer_ref: Some("Zoë 👩🏽‍💻".into()),
            provider_workspace_ref: None,
            provider_consumer_ref: None,
            create_time: at("2023-07-13T21:34:44.816Z"),
            update_time: at("2024-01-01T00:00:00Z"),
            auth_scheme: Some("oauth2/authorizationCode".into()),
            status: Some("working".into()),
            has_access_token: true,
            access_token_issued_at: at("2024-04-22T18:55:28.456076Z"),
            access_token_expires_at: at("2024-10-22T18:55:28.456076123Z"),
            has_refresh_token: false,
            refresh_token_issued_at: None,
            refresh_token_expires_at: None,
            oauth_scopes: Some(vec!["api".into(), "a,b {c}".into()]),
            has_api_key: false,
            provider_metadata: Some(Jsonb(json!({"z": [1, 2.5, null], "a": "line\nbreak"}))),
            extra: Jsonb(
                json!({"newField": {"b": true, "a": "x"}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        }
    }

    #[test]
    fn hashes_are_those_of_the_sorted_json_object_as_before() {
        let row = connection();
        let encoded = Encoder::default().encode(&row).unwrap();
        assert_eq!(encoded.row_hash.to_string(), hash_as_before(&row, &[]));
        assert_eq!(
            encoded.content_hash.to_string(),
            hash_as_before(&row, Table::Connections.volatile_columns())
        );
        let mut refreshed = connection();
        refreshed.access_token_expires_at = None;
        let again = Encoder::default().encode(&refreshed).unwrap();
        assert_eq!(again.content_hash, encoded.content_hash);
        assert_ne!(again.row_hash, encoded.row_hash);
    }

    #[test]
    fn the_copy_line_has_every_column_in_table_order_then_the_hashes() {
        let row = connection();
        let mut encoder = Encoder::default();
        let encoded = encoder.encode(&row).unwrap();
        let line = String::from_utf8(encoder.line.clone()).unwrap();
        let fields: Vec<&str> = line.split('\t').collect();
        let columns = encoder.columns();
        assert_eq!(fields.len(), columns.len());
        assert_eq!(columns[0], "id");
        assert_eq!(columns[columns.len() - 2..], ["content_hash", "row_hash"]);
        let at = |name: &str| fields[columns.iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("group_ref"), r#"grp\t"1"\\"#);
        assert_eq!(at("provider_app_id"), r"\N");
        assert_eq!(at("has_access_token"), "t");
        assert_eq!(at("oauth_scopes"), r#"{"api","a,b {c}"}"#);
        assert_eq!(
            at("provider_metadata"),
            r#"{"a":"line\\nbreak","z":[1,2.5,null]}"#
        );
        assert_eq!(at("row_hash"), encoded.row_hash.to_string());
    }
}
