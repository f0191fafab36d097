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
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
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
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
    pub update_time: Option<DateTime<Utc>>,
    pub latest_revision_id: Option<String>,
    pub latest_revision_spec_version: Option<String>,
    #[serde(serialize_with = "time")]
    pub latest_revision_create_time: Option<DateTime<Utc>>,
    pub latest_revision_content: Option<Jsonb<Value>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct GroupRow {
    pub project_id: String,
    pub group_ref: String,
    pub group_name: Option<String>,
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

#[derive(Serialize)]
pub struct ConsumerRow {
    pub project_id: String,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
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
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
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
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
    pub update_time: Option<DateTime<Utc>>,
    pub auth_scheme: Option<String>,
    pub status: Option<String>,
    pub has_access_token: bool,
    #[serde(serialize_with = "time")]
    pub access_token_issued_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    #[serde(serialize_with = "time")]
    pub refresh_token_issued_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time")]
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
    #[serde(serialize_with = "time")]
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
    #[serde(serialize_with = "time")]
    pub create_time: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_by_kind: Option<String>,
    pub created_by_ref: Option<String>,
    #[serde(serialize_with = "time")]
    pub update_time: Option<DateTime<Utc>>,
    pub extra: Jsonb<Map<String, Value>>,
}

/// Serializes a time as `chrono` does (RFC 3339, `Z`, fractions of 0, 3, 6 or 9
/// digits), without its `fmt` machinery: times are in every row, and the text is hashed,
/// so it must stay exactly the same.
fn time<S: ser::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    let Some(at) = at else {
        return s.serialize_none();
    };
    let mut buf = [0u8; 32];
    match rfc3339(at, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => at.serialize(s),
    }
}

/// `at` as `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it, for years 0 to
/// 9999 outside leap seconds; none otherwise.
fn rfc3339<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    use chrono::{Datelike, Timelike};
    /// Writes `value` as `N` digits at `at`.
    fn digits<const N: usize>(buf: &mut [u8; 32], at: usize, mut value: u32) {
        for i in (0..N).rev() {
            buf[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    buf[..20].copy_from_slice(b"0000-00-00T00:00:00.");
    digits::<4>(buf, 0, year as u32);
    digits::<2>(buf, 5, at.month());
    digits::<2>(buf, 8, at.day());
    digits::<2>(buf, 11, at.hour());
    digits::<2>(buf, 14, at.minute());
    digits::<2>(buf, 17, at.second());
    let end = if nanos == 0 {
        19
    } else if nanos % 1_000_000 == 0 {
        digits::<3>(buf, 20, nanos / 1_000_000);
        23
    } else if nanos % 1_000 == 0 {
        digits::<6>(buf, 20, nanos / 1_000);
        26
    } else {
        digits::<9>(buf, 20, nanos);
        29
    };
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..end + 1]).ok()
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Per table: its fields in name order, and whether each is volatile.
    sorted: [Vec<(usize, bool)>; 8],
    hash_input: Vec<u8>,
    /// The hashes of the last row encoded.
    hashes: Encoded,
    scratch: Vec<u8>,
}

impl Encoder {
    /// Hashes `row`. Its COPY line waits for [`Encoder::write_line`], so that a copy
    /// found to repeat one already stored costs no more.
    pub fn encode<R: Row>(&mut self, row: &R) -> Result<Encoded, crate::copy_text::Error> {
        self.json.clear();
        self.fields.clear();
        self.order.clear();
        row.serialize(RowSerializer {
            encoder: self,
            pass: Pass::Json,
        })?;

        // The JSON object of the columns, keys sorted, hashed as it would be written.
        let table = R::TABLE as usize;
        if self.sorted[table].len() != self.fields.len() {
            let volatile = R::TABLE.volatile_columns();
            let mut order: Vec<(usize, bool)> = (0..self.fields.len())
                .map(|i| (i, volatile.contains(&self.fields[i].0)))
                .collect();
            order.sort_by_key(|(i, _)| self.fields[*i].0);
            self.sorted[table] = order;
        }
        let has_volatile = self.sorted[table].iter().any(|(_, v)| *v);
        let mut hash_of = |skip_volatile: bool| {
            let input = &mut self.hash_input;
            input.clear();
            input.push(b'{');
            for &(i, volatile) in &self.sorted[table] {
                if skip_volatile && volatile {
                    continue;
                }
                if input.len() > 1 {
                    input.push(b',');
                }
                let (name, range) = &self.fields[i];
                // Column names are plain identifiers: JSON needs no escapes for them.
                input.push(b'"');
                input.extend_from_slice(name.as_bytes());
                input.extend_from_slice(b"\":");
                input.extend_from_slice(&self.json[range.clone()]);
            }
            input.push(b'}');
            let mut out = [0; 16];
            out.copy_from_slice(&blake3::hash(input).as_bytes()[..16]);
            Hash(out)
        };
        let row_hash = hash_of(false);
        let content_hash = if has_volatile {
            hash_of(true)
        } else {
            row_hash
        };
        self.hashes = Encoded {
            content_hash,
            row_hash,
        };
        Ok(self.hashes)
    }

    /// Writes the COPY line of `row`, the row last given to [`Encoder::encode`], to
    /// [`Encoder::line`].
    pub fn write_line<R: Row>(&mut self, row: &R) -> Result<(), crate::copy_text::Error> {
        self.line.clear();
        row.serialize(RowSerializer {
            encoder: self,
            pass: Pass::Copy(0),
        })?;
        for hash in [self.hashes.content_hash, self.hashes.row_hash] {
            self.line.push(b'\t');
            self.line.extend_from_slice(&hash.hex());
        }
        Ok(())
    }

    /// The columns of the last row's [`Encoder::line`], in order: its fields, then
    /// `content_hash` and `row_hash`.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut columns = self.order.clone();
        columns.extend(["content_hash", "row_hash"]);
        columns
    }
}

/// Serializes a row struct: first each field's JSON text (for the hashes), then, in a
/// second pass, its COPY text (taken from the JSON text where that is the same).
struct RowSerializer<'a> {
    encoder: &'a mut Encoder,
    pass: Pass,
}

enum Pass {
    Json,
    /// The index of the next field.
    Copy(usize),
}

impl ser::SerializeStruct for RowSerializer<'_> {
    type Ok = ();
    type Error = crate::copy_text::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        let e = &mut *self.encoder;
        match &mut self.pass {
            Pass::Json => {
                e.order.push(name);
                let start = e.json.len();
                serde_json::to_writer(&mut e.json, value).map_err(ser::Error::custom)?;
                e.fields.push((name, start..e.json.len()));
                Ok(())
            }
            Pass::Copy(i) => {
                if *i > 0 {
                    e.line.push(b'\t');
                }
                let json = e.fields.get(*i).map(|(_, range)| &e.json[range.clone()]);
                *i += 1;
                crate::copy_text::write_value(value, json, &mut e.line, &mut e.scratch)
            }
        }
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
    fn times_are_written_exactly_as_chrono_writes_them() {
        use chrono::{SecondsFormat, TimeZone};
        let mut buf = [0; 32];
        let base = Utc.with_ymd_and_hms(2024, 4, 22, 18, 55, 28).unwrap();
        for nanos in [0, 456_000_000, 456_076_000, 456_076_123, 1, 999_999_999] {
            for days in [0, -700_000, 2_000_000, 40] {
                let at = base + chrono::Duration::days(days) + chrono::Duration::nanoseconds(nanos);
                let expected = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                assert_eq!(
                    serde_json::to_string(&at).unwrap(),
                    format!("\"{expected}\"")
                );
                match rfc3339(&at, &mut buf) {
                    Some(text) => assert_eq!(text, expected),
                    None => assert!(!(0..=9999).contains(&chrono::Datelike::year(&at))),
                }
            }
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
        encoder.write_line(&row).unwrap();
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
