//! How a row is encoded: the [`Encoder`] turns a row (a [`Row`] of `bridge`) into what
//! the apply step needs, its content hashes and its COPY text line (see `copy_text`),
//! in one pass over its fields and without building a JSON tree.
//!
//! # Hashes
//! A row's hashes are those of its *source object*, not of its column layout: a JSON
//! object of every column under its hash name (its API field's name, see
//! [`crate::catalog::Column::hashed_as`]) and every field of `extra` under its own,
//! keys sorted, nulls left out. So a release that adds a nullable column, or promotes a
//! field from `extra` to a column, leaves the hash of an unchanged object as it was: no
//! history version, no `changed_at`. The content hash leaves the volatile columns
//! (token times) out; the row hash has them.
//!
//! 0.1.0 hashed the row's columns by column name, nulls included. Its hashes of each
//! row are computed too ([`Encoded::legacy_content_hash`]), so a row stored by 0.1.0
//! whose source did not change is recognised and its hashes rewritten in place, without
//! a version (`apply` plans it as a `rehash`).

use std::fmt;
use std::ops::Range;

use serde::ser::{self, Impossible};
use serde::Serialize;
use serde_json::Value;

use crate::bridge::Row;
use crate::catalog::Spec;

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
    /// Hash of the versioned content of the source object: every field but the
    /// volatile ones (see the module docs).
    pub content_hash: Hash,
    /// Hash of the whole source object.
    pub row_hash: Hash,
    /// The content hash 0.1.0 computed for the same row.
    pub legacy_content_hash: Hash,
}

/// How the fields of one table's rows are hashed, worked out once per table.
#[derive(Default)]
struct Layout {
    /// Each field's hash name and whether it is volatile; none for `extra` and derived
    /// columns.
    hashed: Vec<Option<(String, bool)>>,
    /// For 0.1.0's hash: the fields 0.1.0 had, in name order, and whether each is volatile.
    legacy: Vec<(usize, bool)>,
    /// Fields 0.1.0 had no column for (see [`crate::catalog::Spec::in_0_1_0`]) and their
    /// API names: 0.1.0 kept them in `extra`.
    promoted: Vec<(usize, String)>,
    /// Nested objects whose unknown fields `extra` keeps under their name.
    nested: &'static [&'static str],
}

impl Layout {
    fn of(spec: &'static Spec, fields: &[(&'static str, Range<usize>)]) -> Layout {
        let volatile = |name: &str| spec.volatile.contains(&name);
        let in_0_1_0 = |name: &str| spec.in_0_1_0.contains(&name);
        let hashed = fields
            .iter()
            .map(|(name, _)| {
                crate::catalog::hash_name(spec, name).map(|h| (h.into_owned(), volatile(name)))
            })
            .collect();
        let mut legacy: Vec<(usize, bool)> = (0..fields.len())
            .filter(|&i| in_0_1_0(fields[i].0))
            .map(|i| (i, volatile(fields[i].0)))
            .collect();
        legacy.sort_by_key(|(i, _)| fields[*i].0);
        let promoted = (0..fields.len())
            .filter(|&i| !in_0_1_0(fields[i].0))
            .filter_map(|i| {
                Some((
                    i,
                    crate::catalog::hash_name(spec, fields[i].0)?.into_owned(),
                ))
            })
            .collect();
        Layout {
            hashed,
            legacy,
            promoted,
            nested: spec.nested,
        }
    }
}

/// One field of a source object, for its hash.
struct Entry {
    /// The field's name: a column's hash name, or a range of [`Encoder::names`].
    name: Name,
    /// Its JSON text: a range of [`Encoder::json`] or of [`Encoder::extra_json`].
    value: Range<usize>,
    from_extra: bool,
    volatile: bool,
}

enum Name {
    /// The hash name of the field at this index (see [`Layout::hashed`]).
    Column(usize),
    Extra(Range<usize>),
}

/// Encodes rows, reusing its buffers from one row to the next.
#[derive(Default)]
pub struct Encoder {
    /// The row's COPY text after [`Encoder::encode`]: its columns in table order, then
    /// `content_hash` and `row_hash`, tab-separated, no newline.
    pub line: Vec<u8>,
    /// Each column's JSON text, back to back, for the hashes: numbers as
    /// [`crate::snapshot::json_number::hash_text`] writes them.
    json: Vec<u8>,
    fields: Vec<(&'static str, Range<usize>)>,
    /// Per field: whether its JSON text differs from its exact text (a number was
    /// rewritten), so that its COPY text must be written from the value.
    hash_only: Vec<bool>,
    /// The column names, in the order the row wrote them.
    order: Vec<&'static str>,
    layouts: [Option<Layout>; 8],
    /// The names and JSON texts of the fields of `extra`, back to back.
    names: String,
    extra_json: Vec<u8>,
    entries: Vec<Entry>,
    hash_input: Vec<u8>,
    /// The hashes of the last row encoded.
    hashes: Encoded,
    scratch: Vec<u8>,
}

impl Encoder {
    /// Hashes `row`. Its COPY line waits for [`Encoder::write_line`], so that a copy
    /// found to repeat one already stored costs no more.
    pub fn encode<R: Row>(
        &mut self,
        row: &R,
    ) -> Result<Encoded, crate::snapshot::copy_text::Error> {
        self.json.clear();
        self.fields.clear();
        self.hash_only.clear();
        self.order.clear();
        row.serialize(RowSerializer {
            encoder: self,
            pass: Pass::Json,
        })?;
        let table = R::TABLE as usize;
        let layout = match &mut self.layouts[table] {
            Some(layout) if layout.hashed.len() == self.fields.len() => layout,
            slot => slot.insert(Layout::of(R::TABLE.spec(), &self.fields)),
        };

        // The source object: columns under their hash names, then the fields of extra.
        self.entries.clear();
        self.names.clear();
        self.extra_json.clear();
        for (i, hashed) in layout.hashed.iter().enumerate() {
            let range = self.fields[i].1.clone();
            if let Some((_, volatile)) = hashed {
                let volatile = *volatile;
                if &self.json[range.clone()] != b"null" {
                    self.entries.push(Entry {
                        name: Name::Column(i),
                        value: range,
                        from_extra: false,
                        volatile,
                    });
                }
            }
        }
        for (field, value) in row.extra() {
            match value {
                Value::Null => {}
                Value::Object(inner) if layout.nested.contains(&field.as_str()) => {
                    for (sub, value) in inner.iter().filter(|(_, v)| !v.is_null()) {
                        let name = format!("{field}.{sub}");
                        push_extra(
                            &mut self.entries,
                            &mut self.names,
                            &mut self.extra_json,
                            &name,
                            value,
                        )?;
                    }
                }
                value => push_extra(
                    &mut self.entries,
                    &mut self.names,
                    &mut self.extra_json,
                    field,
                    value,
                )?,
            }
        }
        let names = (self.names.as_str(), layout.hashed.as_slice());
        self.entries
            .sort_by(|a, b| a.name(names).cmp(b.name(names)));
        let mut source_hash = |skip_volatile: bool| {
            let input = &mut self.hash_input;
            input.clear();
            input.push(b'{');
            for entry in self
                .entries
                .iter()
                .filter(|e| !(skip_volatile && e.volatile))
            {
                if input.len() > 1 {
                    input.push(b',');
                }
                // Field names from extra may need escapes; serde_json writes them right.
                serde_json::to_writer(&mut *input, entry.name(names))
                    .map_err(ser::Error::custom)?;
                input.push(b':');
                let json = if entry.from_extra {
                    &self.extra_json
                } else {
                    &self.json
                };
                input.extend_from_slice(&json[entry.value.clone()]);
            }
            input.push(b'}');
            Ok::<Hash, crate::snapshot::copy_text::Error>(digest(input))
        };
        let row_hash = source_hash(false)?;
        let content_hash = if self.entries.iter().any(|e| e.volatile) {
            source_hash(true)?
        } else {
            row_hash
        };

        // 0.1.0's hashes: its columns by name, nulls included, and promoted fields
        // back in extra, where 0.1.0 kept them.
        let legacy_extra = if layout
            .promoted
            .iter()
            .any(|(i, _)| &self.json[self.fields[*i].1.clone()] != b"null")
        {
            let mut extra = row.extra().clone();
            for (i, name) in &layout.promoted {
                let text = &self.json[self.fields[*i].1.clone()];
                if text != b"null" {
                    let value: Value = serde_json::from_slice(text).map_err(ser::Error::custom)?;
                    extra.insert(name.clone(), value);
                }
            }
            self.scratch.clear();
            crate::snapshot::json_number::write_for_hash(&mut self.scratch, &extra)
                .map_err(ser::Error::custom)?;
            true
        } else {
            false
        };
        let input = &mut self.hash_input;
        input.clear();
        input.push(b'{');
        for &(i, volatile) in &layout.legacy {
            if volatile {
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
            if legacy_extra && *name == "extra" {
                input.extend_from_slice(&self.scratch);
            } else {
                input.extend_from_slice(&self.json[range.clone()]);
            }
        }
        input.push(b'}');
        let legacy_content_hash = digest(input);
        self.hashes = Encoded {
            content_hash,
            row_hash,
            legacy_content_hash,
        };
        Ok(self.hashes)
    }

    /// Writes the COPY line of `row`, the row last given to [`Encoder::encode`], to
    /// [`Encoder::line`].
    pub fn write_line<R: Row>(&mut self, row: &R) -> Result<(), crate::snapshot::copy_text::Error> {
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

impl Entry {
    /// Its name, given the names of extra's fields and the layout's hash names.
    fn name<'a>(&self, (names, hashed): (&'a str, &'a [Option<(String, bool)>])) -> &'a str {
        match &self.name {
            Name::Column(i) => hashed[*i].as_ref().map_or("", |(name, _)| name),
            Name::Extra(range) => &names[range.clone()],
        }
    }
}

/// Adds a field of `extra` to the source object being hashed.
fn push_extra(
    entries: &mut Vec<Entry>,
    names: &mut String,
    json: &mut Vec<u8>,
    name: &str,
    value: &Value,
) -> Result<(), crate::snapshot::copy_text::Error> {
    let name_start = names.len();
    names.push_str(name);
    let start = json.len();
    crate::snapshot::json_number::write_for_hash(json, value).map_err(ser::Error::custom)?;
    entries.push(Entry {
        name: Name::Extra(name_start..names.len()),
        value: start..json.len(),
        from_extra: true,
        volatile: false,
    });
    Ok(())
}

/// The first 16 bytes of the BLAKE3 digest of `input`.
fn digest(input: &[u8]) -> Hash {
    let mut out = [0; 16];
    out.copy_from_slice(&blake3::hash(input).as_bytes()[..16]);
    Hash(out)
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
    type Error = crate::snapshot::copy_text::Error;

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
                let rewrote = crate::snapshot::json_number::write_for_hash(&mut e.json, value)
                    .map_err(ser::Error::custom)?;
                e.fields.push((name, start..e.json.len()));
                e.hash_only.push(rewrote);
                Ok(())
            }
            Pass::Copy(i) => {
                if *i > 0 {
                    e.line.push(b'\t');
                }
                // A field whose numbers were rewritten for the hash is written again.
                let json = e
                    .fields
                    .get(*i)
                    .filter(|_| !e.hash_only.get(*i).copied().unwrap_or(true))
                    .map(|(_, range)| &e.json[range.clone()]);
                *i += 1;
                crate::snapshot::copy_text::write_value(value, json, &mut e.line, &mut e.scratch)
            }
        }
    }

    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn not_a_row<T>() -> Result<T, crate::snapshot::copy_text::Error> {
    Err(ser::Error::custom("a row is a struct of named fields"))
}

impl<'a> ser::Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = crate::snapshot::copy_text::Error;
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

/// The byte-identity proof of the in-place path for free-form values.
#[cfg(test)]
#[path = "byte_identity.rs"]
mod byte_identity;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{ConnectionRow, Jsonb};
    use crate::catalog::Table;

    use serde_json::json;

    /// The content hash as 0.1.0 computed it: the row as a serde_json map (keys sorted),
    /// volatile columns left out, and the columns 0.1.0 did not have (`catalog_vars`, ...)
    /// in `extra`, where it kept their fields.
    fn hash_as_in_0_1_0(row: &ConnectionRow) -> String {
        let Value::Object(mut columns) = serde_json::to_value(row).unwrap() else {
            panic!("rows are objects")
        };
        columns.retain(|c, _| !Table::Connections.volatile_columns().contains(&c.as_str()));
        let spec = Table::Connections.spec();
        let later: Vec<String> = columns
            .keys()
            .filter(|c| !spec.in_0_1_0.contains(&c.as_str()))
            .cloned()
            .collect();
        for column in later {
            let value = columns.remove(&column).unwrap();
            if !value.is_null() {
                let name = crate::catalog::hash_name(spec, &column).unwrap();
                columns["extra"][name.as_ref()] = value;
            }
        }
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
            // Columns added later (catalog_vars, ...) are null.
            ..ConnectionRow::default()
        }
    }

    fn hashes(row: &ConnectionRow) -> Encoded {
        Encoder::default().encode(row).unwrap()
    }

    #[test]
    fn token_times_move_the_row_hash_but_not_the_content_hash() {
        let row = connection();
        let mut refreshed = connection();
        refreshed.access_token_expires_at = None;
        let (before, after) = (hashes(&row), hashes(&refreshed));
        assert_eq!(after.content_hash, before.content_hash);
        assert_ne!(after.row_hash, before.row_hash);
        let mut renamed = connection();
        renamed.status = Some("revoked".into());
        assert_ne!(hashes(&renamed).content_hash, before.content_hash);
    }

    #[test]
    fn a_new_column_that_is_null_leaves_the_hashes_as_they_were() {
        // The hash input with catalog_vars null equals the input without the column:
        // nulls are left out, so adding a nullable column changes no stored hash.
        let row = connection();
        let mut with_null_extra = connection();
        with_null_extra
            .extra
            .0
            .insert("someNewField".into(), Value::Null);
        let (before, after) = (hashes(&row), hashes(&with_null_extra));
        assert_eq!(after.content_hash, before.content_hash);
        assert_eq!(after.row_hash, before.row_hash);
    }

    #[test]
    fn promoting_a_field_out_of_extra_leaves_the_hashes_as_they_were() {
        let vars = json!({"region": "eu-west-1", "sandbox": false});
        let mut in_extra = connection();
        in_extra.extra.0.insert("catalogVars".into(), vars.clone());
        let mut in_column = connection();
        in_column.catalog_vars = Some(Jsonb(vars));

        let (before, after) = (hashes(&in_extra), hashes(&in_column));

        assert_eq!(after.content_hash, before.content_hash);
        assert_eq!(after.row_hash, before.row_hash);
        // The same goes for a field of a nested object kept in extra.
        let mut nested = connection();
        nested.oauth_scopes = None;
        nested.extra.0.insert(
            "oauth2AuthorizationCode".into(),
            json!({"scopes": ["api", "a,b {c}"]}),
        );
        assert_eq!(
            hashes(&nested).content_hash,
            hashes(&connection()).content_hash
        );
    }

    #[test]
    fn the_legacy_hash_is_0_1_0s_hash_of_the_same_row() {
        let mut row = connection();
        assert_eq!(
            hashes(&row).legacy_content_hash.to_string(),
            hash_as_in_0_1_0(&row)
        );
        row.catalog_vars = Some(Jsonb(json!({"region": "eu-west-1"})));
        assert_eq!(
            hashes(&row).legacy_content_hash.to_string(),
            hash_as_in_0_1_0(&row)
        );
        // A column added after 0.2.0 too: 0.1.0 kept its field in extra.
        row.scopes = Some(Jsonb(json!(["api"])));
        assert_eq!(
            hashes(&row).legacy_content_hash.to_string(),
            hash_as_in_0_1_0(&row)
        );
    }

    #[test]
    fn the_catalog_declares_only_columns_the_row_has() {
        let mut encoder = Encoder::default();
        encoder.encode(&connection()).unwrap();
        for column in Table::Connections.spec().columns {
            assert!(encoder.order.contains(&column.name), "{}", column.name);
        }
        assert_eq!(encoder.order.last(), Some(&"extra"));
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
