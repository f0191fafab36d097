//! Values in PostgreSQL's `COPY … FROM STDIN` text format, written straight from their
//! serde form, so a row goes from its struct to the bytes Postgres loads without an
//! intermediate JSON tree.
//!
//! One field becomes one column value: `\N` for none, `t`/`f` for booleans, the text of
//! strings and times, a `text[]` literal for sequences of strings, and the JSON text of
//! values wrapped in [`Jsonb`](crate::bridge::Jsonb) (the `jsonb` columns). Backslash, tab, newline and
//! carriage return are escaped as COPY requires; nothing else needs to be.

use std::fmt::{self, Write as _};

use serde::ser::{self, Impossible, Serialize};

use crate::bridge::row::JSONB;

/// Why a value has no COPY text form: a type no column has (a float, a map outside
/// [`Jsonb`](crate::bridge::Jsonb), …). A bug in a row type, not in the data.
#[derive(Debug, thiserror::Error)]
#[error("no COPY text form: {0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends `text` to `out`, escaped for COPY's text format.
pub fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    // Found with SIMD searches rather than byte by byte: a column's text (a config's
    // JSON, kilobytes) mostly holds none of these, or only a few.
    let end = text.len();
    let mut start = 0;
    let mut tab = memchr::memchr(b'\t', text).unwrap_or(end);
    loop {
        if tab < start {
            tab = memchr::memchr(b'\t', &text[start..]).map_or(end, |i| start + i);
        }
        let at = match memchr::memchr3(b'\\', b'\n', b'\r', &text[start..tab]) {
            Some(i) => start + i,
            None if tab < end => tab,
            None => break,
        };
        out.extend_from_slice(&text[start..at]);
        out.extend_from_slice(match text[at] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => b"\\t",
        });
        start = at + 1;
    }
    out.extend_from_slice(&text[start..]);
}

/// Appends the COPY text of one column value to `out`; `scratch` is working space.
/// `json`, when given, is the value's JSON text (`serde_json` compact): strings and
/// `jsonb` values are then taken from it instead of being written again.
pub fn write_value<T: Serialize + ?Sized>(
    value: &T,
    json: Option<&[u8]>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    value.serialize(Field { out, scratch, json })
}

struct Field<'a> {
    out: &'a mut Vec<u8>,
    scratch: &'a mut Vec<u8>,
    json: Option<&'a [u8]>,
}

/// A string's text from its JSON form, when that form holds no escapes: then the text
/// is what is between the quotes, and holds nothing COPY must escape either.
fn plain_string(json: Option<&[u8]>) -> Option<&[u8]> {
    let inner = json?.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    memchr::memchr(b'\\', inner).is_none().then_some(inner)
}

/// A `fmt::Write` that escapes what it is given, for `collect_str` (times).
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s.as_bytes());
        Ok(())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Error> {
    Err(Error(format!("{what} is not a column type")))
}

impl<'a> ser::Serializer for Field<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = TextArray<'a>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(if v { b't' } else { b'f' });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        let _ = write!(Escaping(self.out), "{v}");
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        let _ = write!(Escaping(self.out), "{v}");
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        unsupported("a float outside jsonb")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        unsupported("a float outside jsonb")
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        escape_into(self.out, v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        match plain_string(self.json) {
            Some(text) => self.out.extend_from_slice(text),
            None => escape_into(self.out, v.as_bytes()),
        }
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"\\N");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if name != JSONB {
            return value.serialize(self);
        }
        if let Some(json) = self.json {
            escape_into(self.out, json);
            return Ok(());
        }
        self.scratch.clear();
        serde_json::to_writer(&mut *self.scratch, value).map_err(ser::Error::custom)?;
        escape_into(self.out, self.scratch);
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unsupported("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<TextArray<'a>, Error> {
        // A `text[]` literal is not JSON: the hint does not apply.
        self.scratch.clear();
        self.scratch.push(b'{');
        Ok(TextArray {
            out: self.out,
            literal: self.scratch,
            first: true,
        })
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unsupported("a tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unsupported("an enum with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        unsupported("a map outside jsonb")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        unsupported("a struct outside jsonb")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unsupported("an enum with data")
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        match plain_string(self.json) {
            Some(text) => self.out.extend_from_slice(text),
            None => {
                let _ = write!(Escaping(self.out), "{value}");
            }
        }
        Ok(())
    }
}

/// A `text[]` literal, `{"a","b \"c\""}`, built in scratch space and then escaped for
/// COPY as a whole (its own backslashes included).
pub struct TextArray<'a> {
    out: &'a mut Vec<u8>,
    literal: &'a mut Vec<u8>,
    first: bool,
}

impl ser::SerializeSeq for TextArray<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.literal.push(b',');
        }
        self.first = false;
        value.serialize(ArrayElement(self.literal))
    }

    fn end(self) -> Result<(), Error> {
        self.literal.push(b'}');
        escape_into(self.out, self.literal);
        Ok(())
    }
}

/// One element of a `text[]` literal: a double-quoted string, or NULL.
struct ArrayElement<'a>(&'a mut Vec<u8>);

impl ser::Serializer for ArrayElement<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push(b'"');
        for &b in v.as_bytes() {
            if b == b'"' || b == b'\\' {
                self.0.push(b'\\');
            }
            self.0.push(b);
        }
        self.0.push(b'"');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.0.extend_from_slice(b"NULL");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        unsupported("an array of booleans")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        unsupported("an array of numbers")
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        unsupported("an array of bytes")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unsupported("an array of enums")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        unsupported("a nested array")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        unsupported("an array of tuples")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unsupported("an array of tuples")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unsupported("an array of enums")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        unsupported("an array of maps")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        unsupported("an array of structs")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unsupported("an array of enums")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::Jsonb;
    use serde_json::json;

    fn text<T: Serialize>(value: &T) -> String {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        write_value(value, None, &mut out, &mut scratch).unwrap();
        let plain = String::from_utf8(out).unwrap();
        // The same from the value's JSON text.
        let json = serde_json::to_vec(value).unwrap();
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        write_value(value, Some(&json), &mut out, &mut scratch).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), plain);
        plain
    }

    #[test]
    fn every_byte_copy_needs_escaped_is_escaped_wherever_it_stands() {
        let reference = |text: &[u8]| {
            let mut out = Vec::new();
            for &b in text {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b => out.push(b),
                }
            }
            out
        };
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"ab\\\n\r\t\"{}";
        for len in 0..200 {
            for _ in 0..20 {
                let text: Vec<u8> = (0..len)
                    .map(|_| alphabet[rng.usize(..alphabet.len())])
                    .collect();
                let mut out = b"x".to_vec();
                escape_into(&mut out, &text);
                assert_eq!(out[1..], reference(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn scalars_nulls_and_times_are_written_as_copy_text() {
        assert_eq!(text(&"a\tb\\c\nd\re"), "a\\tb\\\\c\\nd\\re");
        assert_eq!(text(&None::<String>), "\\N");
        assert_eq!(text(&Some(true)), "t");
        assert_eq!(text(&42u32), "42");
        let at = chrono::DateTime::parse_from_rfc3339("2024-04-22T18:55:28.456076Z").unwrap();
        assert_eq!(text(&at.to_utc()), "2024-04-22T18:55:28.456076Z");
    }

    #[test]
    fn string_sequences_become_text_array_literals() {
        assert_eq!(text(&Vec::<String>::new()), "{}");
        // {"a","b \"q\" \\ z"} with its backslashes doubled for COPY.
        assert_eq!(
            text(&vec!["a", "b \"q\" \\ z"]),
            r#"{"a","b \\"q\\" \\\\ z"}"#
        );
    }

    #[test]
    fn jsonb_values_are_their_json_text_and_hash_like_the_bare_value() {
        let value = json!({"b": "tab\there", "a": [1, null]});
        assert_eq!(text(&Jsonb(&value)), r#"{"a":[1,null],"b":"tab\\there"}"#);
        assert_eq!(
            serde_json::to_string(&Jsonb(&value)).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert!(write_value(&1.5f64, None, &mut Vec::new(), &mut Vec::new()).is_err());
    }
}
