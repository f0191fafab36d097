//! The one secret filter. Every free-form JSON value that is stored (`extra`, config
//! `content`, `provider_metadata`, rejected payloads) passes through [`scrub`] first;
//! every text that is stored in a typed column passes through [`redact_string`]; every
//! text that is printed (recorded as a reason or an error, logged, shown by `status`)
//! passes through [`scrub_text`] (or [`scrub_string`], its allocation-free form for the
//! common clean case).
//!
//! A field is dropped when its name says it holds a secret (token, secret, password,
//! API key, credential, authorization, private key); a string is replaced when its value
//! looks like one (a bearer or basic credential, a JWT, a PEM private key), whatever its
//! field is named. In a text, each such word is replaced, and so is the word after
//! `Bearer`.
//!
//! Control characters are kept in what is stored, as the API sent them (`export` gives
//! back what was imported), and escaped where text is printed: [`scrub_text`] writes a
//! newline as `\n`, ESC as `\u{1b}` (see [`escape_controls`]), so text from the API
//! cannot forge log lines or drive a terminal.
//!
//! The secrets the process itself holds (the API key, the database password) are
//! registered with [`protect`] as they are read; any text or stored string that contains
//! one is redacted too, so an API that echoes the key back cannot make us store or log it.

use std::sync::RwLock;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// What replaces a string value that looks like a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not matched inside other text: a short password such
/// as `postgres` would otherwise redact every mention of the word.
const PROTECT_MIN_LEN: usize = 8;

/// The secrets this process holds.
static PROTECTED: RwLock<Vec<SecretString>> = RwLock::new(Vec::new());

/// Registers a secret the process holds: from now on no scrubbed text or value holds it.
pub fn protect(secret: &SecretString) {
    if secret.expose_secret().len() < PROTECT_MIN_LEN {
        return;
    }
    if let Ok(mut protected) = PROTECTED.write() {
        if !protected
            .iter()
            .any(|s| s.expose_secret() == secret.expose_secret())
        {
            protected.push(secret.clone());
        }
    }
}

/// Runs `f` with the registered secrets.
fn with_protected<T>(f: impl FnOnce(&[SecretString]) -> T) -> T {
    match PROTECTED.read() {
        Ok(protected) => f(&protected),
        Err(poisoned) => f(&poisoned.into_inner()),
    }
}

/// Removes secrets from `value`, at any depth.
pub fn scrub(value: &mut Value) {
    with_protected(|protected| scrub_value(value, protected));
}

/// Removes secrets from the fields of an object, at any depth.
pub fn scrub_map(map: &mut Map<String, Value>) {
    with_protected(|protected| scrub_fields(map, protected));
}

fn scrub_value(value: &mut Value, protected: &[SecretString]) {
    match value {
        Value::Object(map) => scrub_fields(map, protected),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, protected)),
        Value::String(text) if looks_like_secret(text) || holds_protected(text, protected) => {
            *text = REDACTED.to_owned()
        }
        _ => {}
    }
}

fn scrub_fields(map: &mut Map<String, Value>, protected: &[SecretString]) {
    let secret = |name: &str| is_secret_name(name) || holds_protected(name, protected);
    // Most objects hold no secret field: looking costs less than `retain` rebuilding.
    if map.keys().any(|name| secret(name)) {
        map.retain(|name, _| !secret(name));
    }
    map.values_mut().for_each(|v| scrub_value(v, protected));
}

fn holds_protected(text: &str, protected: &[SecretString]) -> bool {
    protected.iter().any(|s| {
        let secret = s.expose_secret().as_bytes();
        // Most texts (field names, ids) are shorter than any secret.
        text.len() >= secret.len() && memchr::memmem::find(text.as_bytes(), secret).is_some()
    })
}

/// Redacts the secret-looking words of a text to be printed (an error message, a name
/// the API sent), every occurrence of a secret the process holds, and escapes its
/// control characters.
pub fn scrub_text(text: &str) -> String {
    if suspicious(text) {
        scrub_suspicious(text, Controls::Escape)
    } else {
        text.to_owned()
    }
}

/// As [`scrub_text`], for a string the caller owns: a clean one is returned as it is.
pub fn scrub_string(text: String) -> String {
    if suspicious(&text) {
        scrub_suspicious(&text, Controls::Escape)
    } else {
        text
    }
}

/// As [`scrub_string`], for text that is stored rather than printed: its secrets are
/// redacted, its control characters kept as they are.
pub fn redact_string(text: String) -> String {
    if suspicious(&text) {
        scrub_suspicious(&text, Controls::Keep)
    } else {
        text
    }
}

/// What [`scrub_suspicious`] does with control characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Controls {
    /// Written as escapes: the text is printed.
    Escape,
    /// Left as they are: the text is stored.
    Keep,
}

/// `text` with each control character written as an escape: `\t`, `\n`, `\r`, or
/// `\u{…}` with its code point in hex (ESC is `\u{1b}`, CSI `\u{9b}`), so that it can
/// neither start a line nor reach a terminal as a control sequence.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Returns `value` with its secrets removed, at any depth (see [`scrub`]).
pub fn scrubbed(mut value: Value) -> Value {
    scrub(&mut value);
    value
}

/// The work of [`scrub_text`] and [`redact_string`] on a text [`suspicious`] has flagged.
fn scrub_suspicious(text: &str, controls: Controls) -> String {
    let text = redact(text);
    match controls {
        // Escaped after redacting: an escape's letter (`\t`) would join the next word.
        Controls::Escape => escape_controls(&text).into_owned(),
        Controls::Keep => text,
    }
}

/// `text` with its secrets redacted (see [`scrub_text`]).
fn redact(text: &str) -> String {
    if looks_like_secret(text) {
        return REDACTED.to_owned();
    }
    let mut text = redact_words(text);
    with_protected(|protected| {
        for secret in protected {
            if text.contains(secret.expose_secret()) {
                text = text.replace(secret.expose_secret(), REDACTED);
            }
        }
    });
    text
}

/// Replaces each word of `text` that is a credential: a JWT, or the word after `Bearer`
/// (or after `Basic`, when it is base64 of `user:password`). Words are runs of the
/// characters tokens are made of, so `consumer:eyJ…` and `(token eyJ…)` are found too.
fn redact_words(text: &str) -> String {
    let is_token_char = |c: char| c.is_alphanumeric() || "-_.=+/~".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut scheme: Option<&str> = None;
    let mut rest = text;
    loop {
        let start = rest.find(is_token_char).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        // A sentence's full stop is not part of the word.
        let word = rest[..end].trim_end_matches('.');
        if word.is_empty() {
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let pending = scheme.take();
        // `[redacted]` from an earlier pass stays as it is, and settles a pending scheme.
        let secret = word != "redacted"
            && match pending {
                Some("bearer") => true,
                Some(_) => is_basic_credential(word),
                None => is_jwt(word),
            };
        if word.eq_ignore_ascii_case("bearer") {
            scheme = Some("bearer");
        } else if word.eq_ignore_ascii_case("basic") {
            scheme = Some("basic");
        }
        out.push_str(if secret { REDACTED } else { word });
        rest = &rest[word.len()..];
    }
}

/// Whether [`scrub_text`] could change `text`: a control character, a possible JWT,
/// PEM block or authorization scheme, or a secret the process holds. Cheap, since it
/// runs for every text column of every row.
fn suspicious(text: &str) -> bool {
    let bytes = text.as_bytes();
    let control = bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)))
    });
    let scheme = memchr::memchr2_iter(b'b', b'B', bytes).any(|at| {
        let rest = &bytes[at + 1..];
        [&b"earer"[..], b"asic"].iter().any(|word| {
            rest.get(..word.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(word))
        })
    });
    control
        || scheme
        || memchr::memmem::find(bytes, b"eyJ").is_some()
        || memchr::memmem::find(bytes, b"PRIVATE KEY").is_some()
        || with_protected(|protected| holds_protected(text, protected))
}

/// Replaces every NUL character in `value`'s strings and field names with U+FFFD;
/// returns whether there was one. PostgreSQL cannot store NUL in text or jsonb.
pub fn replace_nul(value: &mut Value) -> bool {
    match value {
        Value::String(text) if text.contains('\0') => {
            *text = text.replace('\0', "\u{fffd}");
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |found, v| replace_nul(v) | found),
        Value::Object(map) => {
            let mut found = false;
            if map.keys().any(|k| k.contains('\0')) {
                let fields = std::mem::take(map);
                *map = fields
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', "\u{fffd}"), v))
                    .collect();
                found = true;
            }
            map.values_mut()
                .fold(found, |found, v| replace_nul(v) | found)
        }
        _ => false,
    }
}

/// A parser's message about a value it could not read, without the values it quotes:
/// serde quotes the offending string (`invalid type: string "…", expected …`), and that
/// string may be a token sent where an object was expected. Field names (`` missing
/// field `id` ``) are kept. The record itself is stored scrubbed, so nothing is lost.
pub fn scrub_reason(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[start];
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let body = &after[1..];
        // The closing quote: serde escapes a `"` inside a quoted string as `\"`.
        let mut end = None;
        let mut escaped = false;
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'\\' if !escaped => escaped = true,
                b if b == quote && !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            out.push(quote as char);
            out.push('…');
            return out;
        };
        let quoted = &body[..end];
        let names_a_field = quote == b'`' && before.trim_end().ends_with("field");
        out.push(quote as char);
        out.push_str(if names_a_field { quoted } else { "…" });
        out.push(quote as char);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// True for a field name that says it holds a secret: `accessToken`, `client_secret`,
/// `X-Api-Key`, `password`, `privateKey`, ...
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: [&str; 8] = [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "credential",
        "authorization",
        "privatekey",
    ];
    // This runs for every field name of every stored object: fold ASCII names on the
    // stack (the same result as below, without allocating).
    if name.is_ascii() && name.len() <= 64 {
        let mut buf = [0u8; 64];
        let mut n = 0;
        for b in name.bytes().filter(u8::is_ascii_alphanumeric) {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        let folded = &buf[..n];
        // Every word starts with one of these letters; most positions start none.
        return (0..n).any(|i| {
            matches!(folded[i], b't' | b's' | b'p' | b'a' | b'c')
                && WORDS
                    .iter()
                    .any(|word| folded[i..].starts_with(word.as_bytes()))
        });
    }
    let folded: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    WORDS.iter().any(|word| folded.contains(word))
}

/// True for a string that is a secret whatever field holds it: `Bearer <token>`,
/// `Basic <user:password in base64>`, a JWT, a PEM private key.
fn looks_like_secret(text: &str) -> bool {
    let trimmed = text.trim();
    if is_jwt(trimmed) {
        return true;
    }
    // Every other form holds a space: most strings (ids, names, times) end here.
    let Some(space) = memchr::memchr(b' ', trimmed.as_bytes()) else {
        return false;
    };
    if memchr::memmem::find(trimmed.as_bytes(), b"PRIVATE KEY-----").is_some() {
        return true;
    }
    // The scheme and one word: `Bearer of bad news` is not a credential.
    let (scheme, credential) = (&trimmed[..space], &trimmed[space + 1..]);
    let credential = credential.trim_start();
    if credential.is_empty() || credential.contains(char::is_whitespace) {
        return false;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return true;
    }
    scheme.eq_ignore_ascii_case("basic") && is_basic_credential(credential)
}

/// `user:password` in base64, as HTTP Basic authorization carries it. Checked by
/// decoding, so that an ordinary word after `Basic` (`Basic plan`) is kept.
fn is_basic_credential(word: &str) -> bool {
    use base64::Engine;
    word.len() >= 4
        && base64::engine::general_purpose::STANDARD
            .decode(word)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .is_some_and(|decoded| decoded.contains(':') && !decoded.chars().any(char::is_control))
}

/// `header.payload.signature`, each base64url, the header starting `eyJ` (`{"`).
fn is_jwt(text: &str) -> bool {
    // The first part starts with `eyJ`; most strings fail here, before any splitting.
    if !text.starts_with("eyJ") {
        return false;
    }
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_fields_are_dropped_at_any_depth() {
        let mut value = json!({
            "name": "kept",
            "accessToken": {"token": "t"},
            "nested": [{"client_secret": "s", "ok": 1, "deeper": {"X-Api-Key": "k", "Password": "p"}}],
            "refresh_token": "r",
            "privateKey": "pk"
        });
        scrub(&mut value);
        assert_eq!(
            value,
            json!({"name": "kept", "nested": [{"ok": 1, "deeper": {}}]})
        );
    }

    #[test]
    fn secret_looking_values_are_redacted_whatever_their_field() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl";
        let mut value =
            json!({"note": jwt, "h": "Bearer abc", "list": ["fine", "basic dXNlcjpwYXNz"]});
        scrub(&mut value);
        assert_eq!(
            value,
            json!({"note": REDACTED, "h": REDACTED, "list": ["fine", REDACTED]})
        );
    }

    #[test]
    fn ordinary_names_and_values_are_kept() {
        for name in ["groupName", "provider", "tokenizer_free", "description"] {
            let expected = name == "tokenizer_free";
            assert_eq!(is_secret_name(name), expected, "{name}");
        }
        assert!(!looks_like_secret("Basically fine"));
        assert!(!looks_like_secret("a.b.c"));
        assert!(!looks_like_secret("Basic plan"));
        assert!(!looks_like_secret("Bearer of bad news"));
        assert_eq!(scrub_text("Basic plan customers"), "Basic plan customers");
        assert_eq!(scrub_string("Acme Corp".into()), "Acme Corp");
    }

    #[test]
    fn credentials_in_running_text_are_redacted_word_by_word() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl";
        assert_eq!(
            scrub_text(&format!("upstream said: Bearer x (token {jwt}), retry")),
            "upstream said: Bearer [redacted] (token [redacted]), retry"
        );
        assert_eq!(
            scrub_text("auth: BASIC dXNlcjpwYXNz failed"),
            "auth: BASIC [redacted] failed"
        );
        assert_eq!(scrub_text("  BASIC dXNlcjpwYXNz"), REDACTED);
        assert_eq!(scrub_text("bearer abc.def"), REDACTED);
        assert_eq!(
            scrub_text(&format!("consumer:{jwt}.")),
            "consumer:[redacted]."
        );
        assert_eq!(scrub_text("ends... Bearer"), "ends... Bearer");
        let once = scrub_text("said Bearer x, then");
        assert_eq!(
            scrub_text(&once),
            once,
            "scrubbing twice changes nothing more"
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines_or_drive_a_terminal() {
        let printed = scrub_text("boom\nOK project synced\r\u{1b}[2K\u{7}\u{9b}done");
        assert_eq!(
            printed,
            "boom\\nOK project synced\\r\\u{1b}[2K\\u{7}\\u{9b}done"
        );
        assert!(!printed.chars().any(char::is_control));
        assert_eq!(scrub_string("tab\there".into()), "tab\\there");
        assert_eq!(
            scrub_text("Bearer\tabc.def\nnext"),
            "Bearer\\t[redacted]\\nnext"
        );
    }

    #[test]
    fn stored_text_keeps_its_control_characters_and_loses_its_secrets() {
        let sent = "Acme\tEU\r\nline two \u{1b}[2K\u{7} Bearer sk-ant-api03-x";
        assert_eq!(
            redact_string(sent.into()),
            "Acme\tEU\r\nline two \u{1b}[2K\u{7} Bearer [redacted]"
        );
        assert_eq!(redact_string("tab\there".into()), "tab\there");
        assert_eq!(redact_string("Bearer abc".into()), REDACTED);
    }

    #[test]
    fn the_ascii_fast_paths_agree_with_the_unicode_fold() {
        let unicode_name = |name: &str| {
            let folded: String = name
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            [
                "token",
                "secret",
                "password",
                "passwd",
                "apikey",
                "credential",
                "authorization",
                "privatekey",
            ]
            .iter()
            .any(|w| folded.contains(w))
        };
        for name in [
            "accessToken",
            "X-Api-Key",
            "client_secret",
            "PASS_WD",
            "Private-Key",
            "groupName",
            "api",
            "tok en",
            "",
            "ÄccessToken",
            "secreT\u{212A}",
            "autHorization!",
            "credentials",
        ] {
            assert_eq!(is_secret_name(name), unicode_name(name), "{name:?}");
        }
        assert!(is_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
        ));
        assert!(!is_jwt("xeyJ.a.b"));
    }

    #[test]
    fn nul_characters_are_found_and_replaced_at_any_depth() {
        let mut value = json!({"a": [{"b": "x\u{0}y"}], "k\u{0}": 1});
        assert!(replace_nul(&mut value));
        assert_eq!(value, json!({"a": [{"b": "x\u{fffd}y"}], "k\u{fffd}": 1}));
        assert!(!replace_nul(&mut json!({"a": ["fine"]})));
    }

    #[test]
    fn parser_messages_lose_the_values_they_quote_but_keep_field_names() {
        assert_eq!(
            scrub_reason(r#"invalid type: string "tok-\"x\"-9Zp3", expected struct Token"#),
            r#"invalid type: string "…", expected struct Token"#
        );
        assert_eq!(scrub_reason("missing field `id`"), "missing field `id`");
        assert_eq!(
            scrub_reason("invalid type: integer `12345`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(scrub_reason(r#"cut "short"#), r#"cut "…"#);
    }

    #[test]
    fn a_protected_secret_is_redacted_wherever_it_appears() {
        let key = "amp_unit_test_key_7Yq2Wp9Lx4";
        protect(&SecretString::from(key));
        protect(&SecretString::from("short"));
        let mut value = json!({"note": format!("key={key}"), "list": [key], "ok": "short"});
        scrub(&mut value);
        assert_eq!(
            value,
            json!({"note": REDACTED, "list": [REDACTED], "ok": "short"})
        );
        assert_eq!(
            scrub_text(&format!("Invalid API key {key} for short")),
            "Invalid API key [redacted] for short"
        );
    }
}
