//! Free-form JSON values (config `content`, a revision's `content`) read in place from
//! their text and written back as ampsync stores them, without a `serde_json::Value`
//! tree: no `String` per string, key and number, no `BTreeMap` per object.
//!
//! [`parse`] reads a value that serde_json has already read as raw text (a
//! `Box<RawValue>`, so the text is valid JSON) into a [`Node`] tree whose strings borrow
//! from the text unless they hold escapes, and whose numbers are their text. [`write`]
//! writes the tree byte for byte as serde_json writes the `Value` it would have read
//! (with `arbitrary_precision`): compact, the members of an object in the byte order of
//! their unescaped names, the last of two members of one name kept (as `Map::insert`
//! keeps it), strings escaped as serde_json escapes them, numbers as serde_json keeps
//! their text. Stored text, hashes and COPY lines are made from that text, so they are
//! the same as when they came from a `Value` (`tests/canonical_json.rs` holds it).
//!
//! [`check`] finds, in a raw value, what serde_json refuses when it reads the value into
//! a `Value` but not when it only reads it as raw text: nesting deeper than its
//! recursion limit and lone UTF-16 surrogates.

use std::borrow::Cow;

/// A JSON value, read in place (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    /// Its text as serde_json (`arbitrary_precision`) keeps it: see [`number_text`].
    Number(Cow<'a, str>),
    /// Borrowed when the text held no escape, and so needs none.
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Members in the order sent, duplicates included: [`write`] sorts them and keeps
    /// the last of each name.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Why a text could not be read as a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// More levels of arrays and objects than serde_json reads.
    #[error("recursion limit exceeded")]
    TooDeep,
    /// A lone UTF-16 surrogate, or any escape serde_json would not read into a string.
    #[error("a string holds an escape that is not Unicode text")]
    BadEscape,
    /// Not JSON; the byte offset. (Never for text serde_json has read as raw text.)
    #[error("not JSON at byte {0}")]
    Syntax(usize),
}

/// The most levels of arrays and objects serde_json reads in one text (its recursion
/// limit, 128, counts the level that fails).
pub const SERDE_JSON_MAX_DEPTH: usize = 127;

/// Reads `text`, a JSON value, into a tree that borrows from it. `max_depth` bounds the
/// levels of nesting.
pub fn parse(text: &str, max_depth: usize) -> Result<Node<'_>, Error> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        max_depth,
    };
    let node = parser.value(0)?;
    parser.whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(Error::Syntax(parser.pos));
    }
    Ok(node)
}

/// Whether serde_json would read `text` (a raw value, so valid JSON) into a `Value`
/// nested in `outer` levels: no deeper than its recursion limit, and without a lone
/// surrogate. Cheap: one pass that skips over strings, which decodes only those that
/// hold a `\u` escape of a surrogate.
pub fn check(text: &str, outer: usize) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let max_depth = SERDE_JSON_MAX_DEPTH.saturating_sub(outer);
    let (mut depth, mut pos) = (0usize, 0usize);
    while pos < bytes.len() {
        match bytes[pos] {
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(Error::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let (end, escaped) = string_end(bytes, pos + 1).ok_or(Error::Syntax(pos))?;
                if escaped && holds_surrogate_escape(&bytes[pos + 1..end]) {
                    unescape(&text[pos..=end])?;
                }
                pos = end;
            }
            _ => {}
        }
        pos += 1;
    }
    Ok(())
}

/// Writes `node` as serde_json writes the `Value` of the same text (see the module
/// docs). Sorts the members of its objects in place.
pub fn write(node: &mut Node<'_>, out: &mut String) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(true) => out.push_str("true"),
        Node::Bool(false) => out.push_str("false"),
        Node::Number(text) => out.push_str(text),
        Node::String(text) => write_string(text, out),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter_mut().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Node::Object(members) => {
            // Stable, so of two members of one name the last sent stays last.
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            let mut first = true;
            for i in 0..members.len() {
                if members
                    .get(i + 1)
                    .is_some_and(|next| next.0 == members[i].0)
                {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                let (name, value) = &mut members[i];
                write_string(name, out);
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
    }
}

/// A string as serde_json writes it: `"` and `\` escaped, `\b`, `\f`, `\n`, `\r`, `\t`,
/// and `\u00xx` (lowercase hex) for the other control characters below U+0020; every
/// other character as it is. A borrowed string held no escape in its JSON text, so it
/// has none of these.
#[allow(clippy::ptr_arg)] // Borrowed or owned is what says whether it needs escapes.
fn write_string(text: &Cow<'_, str>, out: &mut String) {
    out.push('"');
    match text {
        Cow::Borrowed(plain) => out.push_str(plain),
        Cow::Owned(text) => escape_into(text, out),
    }
    out.push('"');
}

/// The body of [`write_string`] for a string that may need escapes.
fn escape_into(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    // Every byte escaped is ASCII, so each cut is at a character boundary.
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => {
                out.push_str(&text[start..i]);
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(escape);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// A number's text as serde_json keeps it with `arbitrary_precision`: as sent, except
/// that an exponent is written `e` and always signed (`1E5` is kept as `1e+5`).
pub fn number_text(number: &str) -> Cow<'_, str> {
    let Some(at) = number.find(['e', 'E']) else {
        return Cow::Borrowed(number);
    };
    let (mantissa, exponent) = (&number[..at], &number[at + 1..]);
    let signed = exponent.starts_with(['+', '-']);
    if signed && number.as_bytes()[at] == b'e' {
        return Cow::Borrowed(number);
    }
    let sign = if signed { "" } else { "+" };
    Cow::Owned(format!("{mantissa}e{sign}{exponent}"))
}

/// The end of the string whose text starts at `start` (the index of its closing quote),
/// and whether it holds an escape.
fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut at = start;
    let mut escaped = false;
    loop {
        at += memchr::memchr2(b'"', b'\\', &bytes[at..])?;
        if bytes[at] == b'"' {
            return Some((at, escaped));
        }
        escaped = true;
        // The escaped character is never the closing quote; a `\u` escape's hex digits
        // hold no quote or backslash either.
        at += 2;
        if at > bytes.len() {
            return None;
        }
    }
}

/// Whether a string's JSON text holds a `\u` escape in the surrogate range
/// (`\uD800`–`\uDFFF`): only then can serde_json refuse it.
fn holds_surrogate_escape(text: &[u8]) -> bool {
    memchr::memmem::find_iter(text, b"\\u").any(|at| {
        text.get(at + 2..at + 4).is_some_and(|h| {
            h[0].eq_ignore_ascii_case(&b'd')
                && matches!(h[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
        })
    })
}

/// A string with escapes, `quoted` its JSON text with its quotes, read by serde_json
/// itself: its rules for escapes and surrogate pairs are the ones to keep.
fn unescape(quoted: &str) -> Result<String, Error> {
    serde_json::from_str::<String>(quoted).map_err(|_| Error::BadEscape)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, Error> {
        self.whitespace();
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(Error::Syntax(self.pos))
    }

    fn expect(&mut self, literal: &[u8]) -> Result<(), Error> {
        if self.bytes[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(Error::Syntax(self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, Error> {
        match self.peek()? {
            b'{' => {
                let depth = self.nest(depth)?;
                let mut members = Vec::new();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Ok(Node::Object(members));
                }
                loop {
                    if self.peek()? != b'"' {
                        return Err(Error::Syntax(self.pos));
                    }
                    let name = self.string()?;
                    if self.peek()? != b':' {
                        return Err(Error::Syntax(self.pos));
                    }
                    self.pos += 1;
                    members.push((name, self.value(depth)?));
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Ok(Node::Object(members));
                        }
                        _ => return Err(Error::Syntax(self.pos)),
                    }
                }
            }
            b'[' => {
                let depth = self.nest(depth)?;
                let mut items = Vec::new();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Ok(Node::Array(items));
                }
                loop {
                    items.push(self.value(depth)?);
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Ok(Node::Array(items));
                        }
                        _ => return Err(Error::Syntax(self.pos)),
                    }
                }
            }
            b'"' => Ok(Node::String(self.string()?)),
            b't' => self.expect(b"true").map(|()| Node::Bool(true)),
            b'f' => self.expect(b"false").map(|()| Node::Bool(false)),
            b'n' => self.expect(b"null").map(|()| Node::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') =
                    self.bytes.get(self.pos)
                {
                    self.pos += 1;
                }
                Ok(Node::Number(number_text(&self.text[start..self.pos])))
            }
            _ => Err(Error::Syntax(self.pos)),
        }
    }

    /// Enters an array or object (its bracket at the cursor); the depth inside it.
    fn nest(&mut self, depth: usize) -> Result<usize, Error> {
        if depth >= self.max_depth {
            return Err(Error::TooDeep);
        }
        self.pos += 1;
        Ok(depth + 1)
    }

    /// A string, the cursor at its opening quote.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        let open = self.pos;
        let (close, escaped) = string_end(self.bytes, open + 1).ok_or(Error::Syntax(open))?;
        self.pos = close + 1;
        if escaped {
            unescape(&self.text[open..=close]).map(Cow::Owned)
        } else {
            Ok(Cow::Borrowed(&self.text[open + 1..close]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut node = parse(text, SERDE_JSON_MAX_DEPTH).unwrap();
        let mut out = String::new();
        write(&mut node, &mut out);
        out
    }

    #[test]
    fn values_are_written_as_serde_json_writes_their_value() {
        for text in [
            r#"{"b": [1, 1E5, -0, 1.50e-3, true, null], "a": {"z\u00e9": "\"q\"\n\u0001/\/"}, "a": 2}"#,
            r#"  [ "\ud83d\ude00 \u2028", {}, [], 0.1000000000000000000000001 ] "#,
            r#"{"é": 1, "e": 2, "\u0000": 3, "Z": 4}"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(canonical(text), value.to_string(), "{text}");
        }
    }

    #[test]
    fn what_serde_json_refuses_in_a_value_is_found_in_its_raw_text() {
        let deep = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        assert_eq!(check(&deep(125), 2), Ok(()));
        assert_eq!(check(&deep(126), 2), Err(Error::TooDeep));
        assert!(serde_json::from_str::<serde_json::Value>(&deep(127)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deep(128)).is_err());
        assert_eq!(check(&deep(127), 0), Ok(()));
        assert_eq!(check(&deep(128), 0), Err(Error::TooDeep));
        assert_eq!(check(r#"{"a": "\ud83d\ude00 \"[[["}"#, 0), Ok(()));
        assert_eq!(check(r#"{"a": "\ud83d"}"#, 0), Err(Error::BadEscape));
        assert_eq!(check(r#"["\uDE00 x"]"#, 0), Err(Error::BadEscape));
        assert_eq!(parse(r#"["\ud83d"]"#, 10), Err(Error::BadEscape));
        assert_eq!(parse(&deep(11), 10), Err(Error::TooDeep));
    }

    #[test]
    fn exponents_are_kept_lowercase_and_signed() {
        for (sent, kept) in [
            ("1", "1"),
            ("-0", "-0"),
            ("1.50", "1.50"),
            ("1e5", "1e+5"),
            ("1E5", "1e+5"),
            ("1E+5", "1e+5"),
            ("2.5E-3", "2.5e-3"),
            ("1e-7", "1e-7"),
        ] {
            assert_eq!(number_text(sent), kept);
            let value: serde_json::Value = serde_json::from_str(sent).unwrap();
            assert_eq!(value.to_string(), kept);
        }
    }
}
