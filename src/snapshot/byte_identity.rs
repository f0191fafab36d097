//! The proof that reading free-form values in place writes no false history: for every
//! kind of value, the in-place path ([`crate::bridge::scrubbed_json`], a [`JsonText`]) gives the
//! same hash input bytes and the same COPY text as the `Value` path of 0.4.0 (a
//! `serde_json::Value`, [`crate::scrub::scrubbed`], `Jsonb<Value>`), value by value and
//! row by row. The values: every value at every depth of the upgrade fixtures, the
//! export fixtures and the samples; the strings of the adversarial tests; and thousands
//! of generated ones (exact numbers, escapes, unicode, duplicate names, deep nesting,
//! secrets at depth).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::model::RawJson;
use crate::bridge::{installation, integration, row, scrubbed_json, JsonText, Jsonb, Key, Row};
use crate::catalog::Table;
use crate::scrub::scrubbed;
use crate::snapshot::encode::Encoder;

/// A secret this process protects, so that values holding it are redacted.
const PROTECTED: &str = "canon-proof-protected-9Zp3Wq7";

/// The hash input and the COPY text of one `jsonb` column value, as the encoder writes
/// them (`encode::RowSerializer`): the COPY text is taken from the hash input unless a
/// number was rewritten for the hash.
fn column<T: Serialize>(value: &Option<Jsonb<T>>) -> (Vec<u8>, bool, Vec<u8>) {
    let mut json = Vec::new();
    let rewrote = crate::snapshot::json_number::write_for_hash(&mut json, value).unwrap();
    let (mut copy, mut scratch) = (Vec::new(), Vec::new());
    let hint = (!rewrote).then_some(json.as_slice());
    crate::snapshot::copy_text::write_value(value, hint, &mut copy, &mut scratch).unwrap();
    (json, rewrote, copy)
}

fn raw(text: &str) -> RawJson {
    serde_json::from_str(text).unwrap()
}

/// Asserts that `text`, a JSON value, is stored the same both ways; returns whether its
/// numbers were rewritten for the hash (to count the cases).
fn assert_same(text: &str) -> bool {
    let old: Option<Jsonb<Value>> = Some(Jsonb(scrubbed(serde_json::from_str(text).unwrap())));
    let new: Option<Jsonb<JsonText>> = Some(Jsonb(scrubbed_json(&raw(text))));
    let (old_hash, old_rewrote, old_copy) = column(&old);
    let (new_hash, new_rewrote, new_copy) = column(&new);
    assert_eq!(
        String::from_utf8_lossy(&new_hash),
        String::from_utf8_lossy(&old_hash),
        "hash input of {text}"
    );
    assert_eq!(
        String::from_utf8_lossy(&new_copy),
        String::from_utf8_lossy(&old_copy),
        "COPY text of {text}"
    );
    assert_eq!(new_rewrote, old_rewrote, "{text}");
    old_rewrote
}

/// A row type of 0.4.0 is a `Row` as its bridge type is: keyed by `id`.
macro_rules! row_of_value {
    ($row:ident, $table:expr, $time:ident) => {
        impl Row for $row {
            const TABLE: Table = $table;
            fn key(&self) -> Key<'_> {
                Key(&self.id, None)
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

/// `ConfigRow` as 0.4.0 had it: its content a `Value`.
#[derive(Serialize)]
struct ConfigRowOfValue {
    id: String,
    project_id: String,
    installation_id: String,
    revision_id: Option<String>,
    #[serde(serialize_with = "row::time")]
    create_time: Option<DateTime<Utc>>,
    created_by: Option<String>,
    created_by_kind: Option<String>,
    created_by_ref: Option<String>,
    content: Option<Jsonb<Value>>,
    extra: Jsonb<Map<String, Value>>,
}

row_of_value!(ConfigRowOfValue, Table::Configs, create_time);

/// `IntegrationRow` as 0.4.0 had it.
#[derive(Serialize)]
struct IntegrationRowOfValue {
    id: String,
    project_id: String,
    name: Option<String>,
    provider: Option<String>,
    #[serde(serialize_with = "row::time")]
    create_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "row::time")]
    update_time: Option<DateTime<Utc>>,
    latest_revision_id: Option<String>,
    latest_revision_spec_version: Option<String>,
    #[serde(serialize_with = "row::time")]
    latest_revision_create_time: Option<DateTime<Utc>>,
    latest_revision_content: Option<Jsonb<Value>>,
    extra: Jsonb<Map<String, Value>>,
}

row_of_value!(IntegrationRowOfValue, Table::Integrations, update_time);

/// A row's hashes and COPY line.
fn encoded<R: Row>(row: &R) -> (crate::snapshot::encode::Encoded, Vec<u8>) {
    let mut encoder = Encoder::default();
    let hashes = encoder.encode(row).unwrap();
    encoder.write_line(row).unwrap();
    (hashes, encoder.line.clone())
}

/// Asserts that two rows have the same hashes (0.1.0's included) and COPY line.
fn assert_same_encoding<N: Row, O: Row>(new: &N, old: &O, source: &str) {
    let (new_hashes, new_line) = encoded(new);
    let (old_hashes, old_line) = encoded(old);
    assert_eq!(
        String::from_utf8_lossy(&new_line),
        String::from_utf8_lossy(&old_line)
    );
    assert_eq!(new_hashes, old_hashes, "{source}");
}

/// The content `element` (an installation's JSON) had, scrubbed as 0.4.0 scrubbed it.
fn content_of_value(element: &Value, path: &[&str]) -> Option<Jsonb<Value>> {
    let mut at = element;
    for key in path {
        at = at.get(key)?;
    }
    (!at.is_null()).then(|| Jsonb(scrubbed(at.clone())))
}

/// Asserts that an installation element's config row is encoded the same both ways.
fn assert_same_config_row(text: &str) {
    let element: Value = serde_json::from_str(text).unwrap();
    let Ok(inst) = serde_json::from_str::<crate::api::model::Installation>(text) else {
        return;
    };
    let Some(new) = installation("proj", inst).config else {
        return;
    };
    let old = ConfigRowOfValue {
        id: new.id.clone(),
        project_id: new.project_id.clone(),
        installation_id: new.installation_id.clone(),
        revision_id: new.revision_id.clone(),
        create_time: new.create_time,
        created_by: new.created_by.clone(),
        created_by_kind: new.created_by_kind.clone(),
        created_by_ref: new.created_by_ref.clone(),
        content: content_of_value(&element, &["config", "content"]),
        extra: new.extra.clone(),
    };
    assert_same_encoding(&new, &old, text);
}

/// Asserts that an integration element's row is encoded the same both ways.
fn assert_same_integration_row(element: &Value) {
    let Ok(integration_read) =
        serde_json::from_value::<crate::api::model::Integration>(element.clone())
    else {
        return;
    };
    let new = integration("proj", integration_read);
    let old = IntegrationRowOfValue {
        id: new.id.clone(),
        project_id: new.project_id.clone(),
        name: new.name.clone(),
        provider: new.provider.clone(),
        create_time: new.create_time,
        update_time: new.update_time,
        latest_revision_id: new.latest_revision_id.clone(),
        latest_revision_spec_version: new.latest_revision_spec_version.clone(),
        latest_revision_create_time: new.latest_revision_create_time,
        latest_revision_content: content_of_value(element, &["latestRevision", "content"]),
        extra: new.extra.clone(),
    };
    assert_same_encoding(&new, &old, &element.to_string());
}

/// Every value in `text` at every depth, as its own JSON text: each is a content the
/// API could send.
fn every_value(text: &str) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        out.push(value.to_string());
        match value {
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = vec![text.to_owned()];
    walk(&serde_json::from_str(text).unwrap(), &mut out);
    out
}

/// The JSON files of the fixtures and samples, by path under the repository.
fn fixture_files() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["tests/fixtures/upgrade", "tests/fixtures/export", "samples"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            files.push((path.display().to_string(), text));
        }
    }
    assert!(files.len() >= 12, "the fixtures and samples are found");
    files
}

#[test]
fn the_fixtures_and_samples_are_stored_byte_for_byte_as_before() {
    crate::scrub::protect(&secrecy::SecretString::from(PROTECTED));
    let mut values = 0;
    for (path, text) in fixture_files() {
        // Each file as sent (whitespace and all), then every value in it.
        for value in every_value(&text) {
            assert_same(&value);
            values += 1;
        }
        let Ok(Value::Array(elements)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for element in &elements {
            if path.contains("integrations") {
                assert_same_integration_row(element);
            } else {
                assert_same_config_row(&serde_json::to_string_pretty(element).unwrap());
                assert_same_config_row(&element.to_string());
            }
        }
    }
    assert!(values > 10_000, "{values} values");
}

/// Literal strings of the adversarial tests (the hostile API, the secrets, the storable
/// checks) and of the scrub's own tests: each as a string value, and as a value when it
/// is JSON.
fn adversarial_strings() -> Vec<String> {
    let sources = [
        include_str!("../../tests/api/hostile_api.rs"),
        include_str!("../../tests/api/secrets.rs"),
        include_str!("../../tests/api/storable.rs"),
        include_str!("../../tests/api/rejects.rs"),
        include_str!("../scrub.rs"),
        include_str!("../scrub/shapes.rs"),
    ];
    let literal = regex::Regex::new(r##"r#"((?s:.)*?)"#|"((?:[^"\\]|\\.)*)""##).unwrap();
    let mut out = BTreeSet::new();
    for source in sources {
        for found in literal.captures_iter(source) {
            if let Some(raw) = found.get(1) {
                out.insert(raw.as_str().to_owned());
            }
            if let Some(quoted) = found.get(2) {
                // Rust escapes that JSON shares read the same; others are skipped.
                if let Ok(text) =
                    serde_json::from_str::<String>(&format!("\"{}\"", quoted.as_str()))
                {
                    out.insert(text);
                }
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn the_adversarial_corpus_is_stored_byte_for_byte_as_before() {
    crate::scrub::protect(&secrecy::SecretString::from(PROTECTED));
    let strings = adversarial_strings();
    assert!(strings.len() > 300, "{} strings", strings.len());
    let mut as_values = 0;
    for text in &strings {
        let string = Value::String(text.clone()).to_string();
        assert_same(&string);
        assert_same(&format!(
            "{{\"note\": {string}, \"nested\": [{{\"k\": {string}}}]}}"
        ));
        assert_same(&format!("{{{string}: 1, \"x\": {{{string}: [true]}}}}"));
        if serde_json::from_str::<Value>(text)
            .is_ok_and(|v| crate::canonical::check(text, 2).is_ok() && !v.is_null())
        {
            assert_same(text);
            as_values += 1;
        }
    }
    assert!(as_values >= 10, "{as_values} JSON texts");
}

/// Generates JSON texts with a seeded PRNG: what the API could send, written with every
/// freedom JSON allows (whitespace, escapes for any character, exponent forms).
struct Generator {
    rng: fastrand::Rng,
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.0",
    "-0.0",
    "1.0",
    "1.50",
    "1e5",
    "1E5",
    "1E+2",
    "1e+2",
    "1e-7",
    "1E-7",
    "5e-1",
    "123.456e2",
    "0.1000000000000000000000001",
    "0.30000000000000004",
    "9875133.537942737",
    "3.141592653589793",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "-123456789012345678901234567890.000000000000000000001",
    "2.5e-324",
    "5e-324",
    "1e308",
    "1.7976931348623157e308",
    "1e21",
    "1e20",
    "12345678901234567",
    "4.35",
    "0.000001",
    "1234567.8901234567",
    "100",
    "1e0",
    "0e0",
    "0E-0",
    "-0e+00",
    "7.0e1",
    "1e400",
];

const NAMES: &[&str] = &[
    "a",
    "A",
    "b",
    "Z",
    "_",
    "",
    " ",
    "read",
    "write",
    "objects",
    "schedule",
    "é",
    "e\u{301}",
    "ß",
    "日本",
    "🙂",
    "a\u{0}",
    "\u{1}",
    "\u{7f}",
    "tab\there",
    "quote\"d",
    "back\\slash",
    "slash/",
    "accessToken",
    "client_secret",
    "X-Api-Key",
    "password",
    "dbPwd",
    "privateKey",
    "tokenizer_free",
    "authorization",
    "publicKey",
    "key",
    "monkey",
    "credentials",
    "canon-proof-protected-9Zp3Wq7",
    "note-canon-proof-protected-9Zp3Wq7",
    "\u{2028}",
];

const STRINGS: &[&str] = &[
    "",
    "plain",
    "Acme Corp",
    "*/15 * * * *",
    "line\nbreak",
    "tab\tand\rcr",
    "\u{1}\u{1f}\u{7f}",
    "\u{8}\u{c}",
    "quote \" and \\ backslash",
    "a/b</script>",
    "Zoë 👩🏽‍💻",
    "日本語",
    "\u{2028}\u{2029}",
    "\u{feff}bom",
    "\u{fffd}",
    "\u{10ffff}",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    "Bearer abc",
    "bearer x.y",
    "Basic dXNlcjpwYXNz",
    "Basic plan",
    "Bearer of bad news",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
    "ghp_5URYX45jqRO25g3uK5kbAAegiuE8LCAnmuO6",
    "sk_live_51GcEEzT3GVQgP5i0TtGJA79kDCR5XHE",
    "AKIA4QWERTY2ZXCVB7NM",
    "use xoxb-2104065467119-7308189502449-29gacnVnN8zSMfL2xYsCdZPi here",
    "https://svc:Wq7-Lk2!Jh5Gf8@api.example.com/v1/objects",
    "https://api.example.com/cb?access_token=ya-9Zp3Wq7Lk2Jh5&state=ok",
    "postgres://app:pw@db/x",
    "key=canon-proof-protected-9Zp3Wq7",
    "canon-proof-protected-9Zp",
    "1e5",
    "null",
    "true",
    "\u{0}",
    "sk-learn",
    "SKU-4410 desk-top",
];

impl Generator {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.usize(..from.len())]
    }

    fn space(&mut self, out: &mut String) {
        if self.rng.u8(..4) == 0 {
            out.push_str([" ", "\n", "\t", "\r\n  ", "  "][self.rng.usize(..5)]);
        }
    }

    /// A string's JSON text, each character written plainly or as one of its escapes.
    fn string(&mut self, text: &str, out: &mut String) {
        out.push('"');
        for c in text.chars() {
            let escape = self.rng.u8(..8) == 0;
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' if !escape => out.push_str("\\n"),
                '\t' if !escape => out.push_str("\\t"),
                '\r' if !escape => out.push_str("\\r"),
                '\u{8}' if !escape => out.push_str("\\b"),
                '\u{c}' if !escape => out.push_str("\\f"),
                '/' if escape => out.push_str("\\/"),
                c if (c as u32) < 0x20 || escape => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if self.rng.bool() {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn random_text(&mut self) -> String {
        let len = self.rng.usize(..12);
        (0..len)
            .map(|_| match self.rng.u8(..10) {
                0 => char::from_u32(self.rng.u32(..0x20)).unwrap_or('x'),
                1 => char::from_u32(self.rng.u32(0x80..0x3000)).unwrap_or('é'),
                2 => ['🙂', '😀', '\u{10000}', '\u{fffe}'][self.rng.usize(..4)],
                3 => ['"', '\\', '/', ' '][self.rng.usize(..4)],
                _ => self.rng.alphanumeric(),
            })
            .collect()
    }

    fn number(&mut self) -> String {
        match self.rng.u8(..3) {
            0 => self.pick(NUMBERS).to_owned(),
            1 => self.rng.i64(..).to_string(),
            _ => {
                let sign = if self.rng.bool() { "-" } else { "" };
                let int = if self.rng.u8(..3) == 0 {
                    "0".to_owned()
                } else {
                    format!("{}{}", self.rng.u8(1..10), self.digits())
                };
                let frac = if self.rng.bool() {
                    format!(".{}{}", self.rng.u8(..10), self.digits())
                } else {
                    String::new()
                };
                let exp = if self.rng.u8(..3) == 0 {
                    let e = ["e", "E"][self.rng.usize(..2)];
                    let s = ["", "+", "-"][self.rng.usize(..3)];
                    format!("{e}{s}{}", self.rng.u16(..400))
                } else {
                    String::new()
                };
                format!("{sign}{int}{frac}{exp}")
            }
        }
    }

    fn digits(&mut self) -> String {
        let most = self.rng.usize(1..30);
        let len = self.rng.usize(..most);
        (0..len)
            .map(|_| char::from(b'0' + self.rng.u8(..10)))
            .collect()
    }

    fn value(&mut self, depth: usize, out: &mut String) {
        let leaf = depth == 0 || self.rng.u8(..3) == 0;
        match self.rng.u8(..if leaf { 6 } else { 8 }) {
            0 => out.push_str(["null", "true", "false"][self.rng.usize(..3)]),
            1 | 2 => {
                let n = self.number();
                out.push_str(&n);
            }
            3 | 4 => {
                let text = self.pick(STRINGS).to_owned();
                self.string(&text, out);
            }
            5 => {
                let text = self.random_text();
                self.string(&text, out);
            }
            6 => {
                out.push('[');
                let len = self.rng.usize(..5);
                for i in 0..len {
                    if i > 0 {
                        out.push(',');
                    }
                    self.space(out);
                    self.value(depth - 1, out);
                    self.space(out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                let len = self.rng.usize(..7);
                for i in 0..len {
                    if i > 0 {
                        out.push(',');
                    }
                    self.space(out);
                    let name = if self.rng.u8(..4) == 0 {
                        self.random_text()
                    } else {
                        self.pick(NAMES).to_owned()
                    };
                    self.string(&name, out);
                    self.space(out);
                    out.push(':');
                    self.space(out);
                    self.value(depth - 1, out);
                }
                out.push('}');
            }
        }
    }
}

#[test]
fn generated_values_are_stored_byte_for_byte_as_before() {
    crate::scrub::protect(&secrecy::SecretString::from(PROTECTED));
    let mut generator = Generator {
        rng: fastrand::Rng::with_seed(21),
    };
    let (mut rewritten, mut cases) = (0, 0);
    for case in 0..20_000 {
        let mut text = String::new();
        generator.space(&mut text);
        generator.value(1 + case % 9, &mut text);
        generator.space(&mut text);
        rewritten += usize::from(assert_same(&text));
        cases += 1;
        // As a config's content in an installation, row and all.
        if case % 10 == 0 {
            assert_same_config_row(&format!(
                r#"{{"id": "i-{case}", "config": {{"id": "c-{case}", "content": {text}}}}}"#
            ));
        }
    }
    assert!(
        rewritten > 1_000 && rewritten < cases - 1_000,
        "{rewritten} of {cases}"
    );
}

#[test]
fn deep_nesting_is_stored_as_before_up_to_serde_jsons_limit() {
    let mut generator = Generator {
        rng: fastrand::Rng::with_seed(125),
    };
    for depth in [20, 60, 124, 125] {
        let mut text = String::new();
        for i in 0..depth {
            text.push_str(if i % 2 == 0 { "{\"k\": " } else { "[1.50, " });
        }
        generator.value(0, &mut text);
        for i in (0..depth).rev() {
            text.push(if i % 2 == 0 { '}' } else { ']' });
        }
        assert_same(&text);
        let element = format!(r#"{{"id": "i", "config": {{"id": "c", "content": {text}}}}}"#);
        assert_same_config_row(&element);
        let value_read = serde_json::from_str::<crate::api::model::Installation>(&element).is_ok();
        assert!(value_read, "depth {depth}");
    }
    // One level more, and the installation is refused as serde_json refused it.
    let text = "[".repeat(126) + &"]".repeat(126);
    let element = format!(r#"{{"id": "i", "config": {{"id": "c", "content": {text}}}}}"#);
    assert!(serde_json::from_str::<crate::api::model::Installation>(&element).is_err());
    assert!(serde_json::from_str::<Value>(&element).is_err());
}
