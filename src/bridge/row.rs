//! What every row of the target tables is: a [`Row`] with its [`Key`], its `jsonb`
//! values wrapped in [`Jsonb`], and its times written by [`time`]. The row structs
//! themselves are in the bridge's `mod.rs`; how a row is hashed and written for COPY is
//! `snapshot::encode`.

use chrono::{DateTime, Utc};
use serde::ser;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::Table;

/// A value stored in a `jsonb` column: written as its JSON text. Serializes as a newtype
/// struct, which JSON serializers see through, so it hashes like the bare value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Jsonb<T>(pub T);

/// The newtype name by which the COPY serializer (`snapshot::copy_text`) tells a `jsonb`
/// value from other newtypes.
pub(crate) const JSONB: &str = "ampsync::Jsonb";

impl<T: Serialize> Serialize for Jsonb<T> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(JSONB, &self.0)
    }
}

/// A free-form value as it is stored: its JSON text as serde_json writes the `Value`
/// of the same text (see [`crate::canonical`]), secrets already dropped. Serializes as
/// that JSON (a serde_json raw value), so it hashes and writes as that `Value` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl Default for JsonText {
    fn default() -> Self {
        JsonText("null".to_owned())
    }
}

/// The name by which serde_json's serializers know a raw value (`RawValue`'s own
/// `Serialize` uses it; `serde_json::value::RawValue::from_string` would parse the text
/// once more to check it). A test holds that serde_json still writes it raw.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl JsonText {
    /// `json` must be one JSON value, written by [`crate::canonical::write`].
    pub(crate) fn from_canonical(json: String) -> JsonText {
        JsonText(json)
    }

    pub fn get(&self) -> &str {
        &self.0
    }
}

impl Serialize for JsonText {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, &*self.0)?;
        raw.end()
    }
}

/// Serializes a time as `chrono` does (RFC 3339, `Z`, fractions of 0, 3, 6 or 9
/// digits), without its `fmt` machinery: times are in every row, and the text is hashed,
/// so it must stay exactly the same.
pub(crate) fn time<S: ser::Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
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
    /// The object's fields that no column models.
    fn extra(&self) -> &Map<String, Value>;
}

/// A key: one column's value, or two for `groups` and `consumers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key<'a>(pub &'a str, pub Option<&'a str>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_written_raw_and_read_back_as_its_value() {
        let text = JsonText(r#"{"a":[1e+5,"x"]}"#.to_owned());
        assert_eq!(serde_json::to_string(&text).unwrap(), r#"{"a":[1e+5,"x"]}"#);
        let value = serde_json::to_value(&text).unwrap();
        let expected: serde_json::Value = serde_json::from_str(r#"{"a":[1e5,"x"]}"#).unwrap();
        assert_eq!(value, expected);
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
}
