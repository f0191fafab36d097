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
//!
//! Secrets that show by their shape alone, wherever they stand in a string or a text,
//! are replaced where they stand (see [`shapes`]): tokens with a published prefix
//! (`ghp_`, `xoxb-`, `sk_live_`, `AKIA`, ...), PEM private keys, a URL's userinfo
//! password and query parameters named for a secret (`?access_token=`, `&sig=`).

mod shapes;

use std::borrow::Cow;
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

/// Whether the filter would redact anything in `text`, its control characters aside:
/// for a text that is kept as it is unless it holds a secret (a metric's label).
pub fn holds_secret(text: &str) -> bool {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    scrub_text(&spaced) != spaced
}

/// Removes secrets from `value`, at any depth.
pub fn scrub(value: &mut Value) {
    with_protected(|protected| scrub_value(value, protected));
}

/// Removes secrets from the fields of an object, at any depth.
pub fn scrub_map(map: &mut Map<String, Value>) {
    with_protected(|protected| scrub_fields(map, protected));
}

/// Removes secrets from the fields of an OAuth grant (`oauth2AuthorizationCode`), as
/// [`scrub_map`] does, and its `code` and `codeVerifier` too: there they are the
/// authorization code and its PKCE verifier, which buy tokens, although the names do
/// not say so anywhere else.
pub fn scrub_oauth_grant(map: &mut Map<String, Value>) {
    map.retain(|name, _| {
        let folded: String = name
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        !matches!(folded.as_str(), "code" | "codeverifier")
    });
    scrub_map(map);
}

/// Removes secrets from a value read in place (see [`crate::canonical`]), at any
/// depth, exactly as [`scrub`] does from the `Value` of the same text.
pub fn scrub_node(node: &mut crate::canonical::Node<'_>) {
    with_protected(|protected| scrub_tree(node, protected));
}

fn scrub_value(value: &mut Value, protected: &[SecretString]) {
    match value {
        Value::Object(map) => scrub_fields(map, protected),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, protected)),
        Value::String(text) => {
            if let Some(clean) = cleaned_string(text, protected) {
                *text = clean;
            }
        }
        _ => {}
    }
}

fn scrub_tree(node: &mut crate::canonical::Node<'_>, protected: &[SecretString]) {
    use crate::canonical::Node;
    match node {
        Node::Object(members) => {
            if members
                .iter()
                .any(|(name, _)| is_secret_field(name, protected))
            {
                members.retain(|(name, _)| !is_secret_field(name, protected));
            }
            members
                .iter_mut()
                .for_each(|(_, v)| scrub_tree(v, protected));
        }
        Node::Array(items) => items.iter_mut().for_each(|v| scrub_tree(v, protected)),
        Node::String(text) => {
            if let Some(clean) = cleaned_string(text, protected) {
                *text = Cow::Owned(clean);
            }
        }
        _ => {}
    }
}

/// What a stored string value becomes, if it holds a secret: `[redacted]` when it looks
/// like one or holds one the process protects, else each secret shape in it redacted.
fn cleaned_string(text: &str, protected: &[SecretString]) -> Option<String> {
    if looks_like_secret(text) || holds_protected(text, protected) {
        return Some(REDACTED.to_owned());
    }
    match shapes::redact(text) {
        Cow::Owned(clean) => Some(clean),
        Cow::Borrowed(_) => None,
    }
}

/// Whether a field is dropped from a stored object: its name says it holds a secret,
/// or holds one the process protects.
fn is_secret_field(name: &str, protected: &[SecretString]) -> bool {
    is_secret_name(name) || holds_protected(name, protected)
}

fn scrub_fields(map: &mut Map<String, Value>, protected: &[SecretString]) {
    let secret = |name: &str| is_secret_field(name, protected);
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

/// Replaces each shape of a secret in `text` (see [`shapes`]), then each word that is a
/// credential: a JWT, or the word after `Bearer` (or after `Basic`, when it is base64 of
/// `user:password`). Words are runs of the characters tokens are made of, so
/// `consumer:eyJ…` and `(token eyJ…)` are found too.
fn redact_words(text: &str) -> String {
    let text = shapes::redact(text);
    let text = text.as_ref();
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
        || shapes::may_hold(text)
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

/// As [`replace_nul`], for the fields of an object.
pub fn replace_nul_in_map(map: &mut Map<String, Value>) -> bool {
    let mut value = Value::Object(std::mem::take(map));
    let found = replace_nul(&mut value);
    if let Value::Object(fields) = value {
        *map = fields;
    }
    found
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

/// The words that make a field name a secret's wherever they stand in it, the name
/// folded to lowercase letters and digits: `accessToken`, `client_secret`, `X-Api-Key`,
/// `dbPwd`, `sshPassphrase`, `signingKey`.
const SECRET_WORDS: [&str; 18] = [
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "passcode",
    "apikey",
    "credential",
    "authorization",
    // A key of these kinds is secret material. A plain `key` is not (a sort key, a
    // record's key), and neither is a public one.
    "privatekey",
    "signingkey",
    "hmackey",
    "encryptionkey",
    "masterkey",
    "sharedkey",
    "sessionkey",
    "accesskey",
];

/// Which ASCII bytes start a word of [`SECRET_WORDS`].
const SECRET_WORD_STARTS: [bool; 128] = {
    let mut starts = [false; 128];
    let mut i = 0;
    while i < SECRET_WORDS.len() {
        starts[SECRET_WORDS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    starts
};

/// The bit of a lowercase ASCII letter in a set of letters; none for other bytes.
const fn letter_bit(b: u8) -> u32 {
    if b.is_ascii_lowercase() {
        1 << (b - b'a')
    } else {
        0
    }
}

/// Set in a name's letters (see [`NAME_LETTER_BITS`]) by a byte outside ASCII.
const NON_ASCII: u32 = 1 << 31;

/// Per byte of a name: the [`letter_bit`] of its letter, either case; [`NON_ASCII`]
/// for bytes outside ASCII; nothing for digits and punctuation.
const NAME_LETTER_BITS: [u32; 256] = {
    let mut bits = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        bits[b] = if b >= 0x80 {
            NON_ASCII
        } else {
            letter_bit((b as u8).to_ascii_lowercase())
        };
        b += 1;
    }
    bits
};

/// The letters of each word of [`SECRET_WORDS`], as sets of [`letter_bit`]s.
const SECRET_WORD_LETTERS: [u32; SECRET_WORDS.len()] = {
    let mut sets = [0u32; SECRET_WORDS.len()];
    let mut i = 0;
    while i < SECRET_WORDS.len() {
        let word = SECRET_WORDS[i].as_bytes();
        let mut j = 0;
        while j < word.len() {
            sets[i] |= letter_bit(word[j]);
            j += 1;
        }
        i += 1;
    }
    sets
};

/// True for a field name that says it holds a secret: one holding a word of
/// [`SECRET_WORDS`] (`accessToken`, `client_secret`, `X-Api-Key`, `password`, `pwd`,
/// `privateKey`, `hmacKey`, ...).
pub fn is_secret_name(name: &str) -> bool {
    // This runs for every field name of every stored object. First the letters it has,
    // in one pass: most names lack a letter of every word, so none can hold one.
    let mut letters = 0u32;
    for b in name.bytes() {
        letters |= NAME_LETTER_BITS[usize::from(b)];
    }
    let ascii = letters & NON_ASCII == 0;
    if ascii && !SECRET_WORD_LETTERS.iter().any(|&word| word & !letters == 0) {
        return false;
    }
    // Fold ASCII names on the stack (the same result as below, without allocating).
    if ascii && name.len() <= 64 {
        let mut buf = [0u8; 64];
        let mut n = 0;
        for b in name.bytes().filter(u8::is_ascii_alphanumeric) {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        let folded = &buf[..n];
        // Most positions start no word.
        return (0..n).any(|i| {
            SECRET_WORD_STARTS[usize::from(folded[i])]
                && SECRET_WORDS
                    .iter()
                    .any(|word| folded[i..].starts_with(word.as_bytes()))
        });
    }
    let folded: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|word| folded.contains(word))
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
            SECRET_WORDS.iter().any(|w| folded.contains(w))
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
        // Near misses of every word, for the letter-set shortcut.
        for word in SECRET_WORDS {
            for other in ["", "key", "Ke_y", "x"] {
                let len = word.len();
                let mut reversed: String = word.chars().rev().collect();
                reversed.push_str(other);
                for name in [
                    format!("{other}{word}"),
                    format!("{}-{other}", &word[..len - 1]),
                    format!("{}{other}", &word[1..]),
                    format!("{}_{}", &word[..len / 2], &word[len / 2..]).to_uppercase(),
                    format!("{} {}", &word[len / 2..], &word[..len / 2]),
                    reversed,
                ] {
                    assert_eq!(is_secret_name(&name), unicode_name(&name), "{name:?}");
                }
            }
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

    /// One real-looking secret of each token shape (made up, in the published formats).
    const SHAPED_TOKENS: &[&str] = &[
        "ghp_5URYX45jqRO25g3uK5kbAAegiuE8LCAnmuO6",
        "gho_RvvBfOHZ1FzfnKpcmgfmqSWstSqkNh5brTo2",
        "ghs_1oKpdaZPNtriSPvMUC6j7OrJ1Bkkz7T3hSiX",
        "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",
        "glpat-fCFalm0Otz82g61snxNt",
        "xoxb-2104065467119-7308189502449-29gacnVnN8zSMfL2xYsCdZPi",
        "xoxp-968664071975-334756390521-5017382402558-407de7cc992f8b4e7f4ba43816bc69f5",
        "xoxa-2-85iir4bKQ6e4XkvrpXQufjqqgiteFc",
        "xoxr-2-85iir4bKQ6e4XkvrpXQufjqqgiteFc",
        "xoxs-1234567890-1234567890-1234567890-4f9b28c6eda9c0bf",
        "sk_live_51GcEEzT3GVQgP5i0TtGJA79kDCR5XHE",
        "rk_live_511jlmmshmCzDe2X2XtOIhZnU503nUt3",
        "sk_test_4enGsB2EgxHpVZlJKx0sjavZyj",
        "whsec_sG634UiGelM0GHch3r4AK6fImM15RCCA",
        "AKIA4QWERTY2ZXCVB7NM",
        "AIzafwwm-MuFJDpm53QEvh5ldKdGTHNZiUbhwuD",
        "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",
        "ya29.LQn5ytpeTxzxCLapgC2WJRqOgbl8wsASqsLmvM7AkptdtTNUcHd5aOK86Ngd",
        "sk-proj-ekcN1J6Jk2jdYcHbiaOn-3nQdbpeD5FSVipiFG57-ff7kxuBFzEKfqS6O4-aT3BlbkFJMpUzKswhDGwebnyn86IDh3FKQNFS_2iAAB-7Pt6Zids8Bg9Gan7fCpcrjCXd",
        "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",
        "sk-ant-api03-jtfrDpdBlQEf_DrYn6GAgOYj2421pCFOmcyafRv1RgDtHM8KnPjD6CKbBWpAl4Z91ArlrY9h6FlXPikVqBffFqdnqH83GAA",
        "npm_kX3XDXl6i54cmh6HwD9Eu0U2duv1Wy5g4Z7b",
        "pypi-AgEIcHlwaS5vcmc4xi4qzO3yuSfsMSHiEX-gbc9UDYk8OA4mZlnx2YsMrKLUw3VRJBEQoaK_rR8BVMCQL4ktH",
        "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",
        "SKfe8973358278e9972819295e8d22bf72",
        "key-4f9b28c6eda9c0bf5b0eefeefab913a0",
        "pat-na1-2fb4e544-30f8-9894-46fa-52fdd7d018cb",
        "00D5g000004SnAB!gk5wm4GNPzfaBRlf.QtdF681dkM6YkNBRD6mNSKXH16UhQil_YOwV2MI37Yzhe0hJhvoDsc4odq",
        "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",
        "ATATT3xFfGF0oEMBAY-912gw7pgyEAYEv=uFZkBKaCoN-tRx3rfdR_Uw_j2VaoiHnKyBLgdCuCK0F=2Q0rxN",
        "lin_api_8QqJitB80hC2ZUTkyFWDoqVhqW7XT49PWlr94Da3",
        "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",
        "secret_EGoIBE3hEIOeKdonn3Tn49061XcMJygFqJmyEBgwy8l",
        "figd_a1OSJFWP1DgSvhOmcQp6cO-I6UO3KI6BKpox947G",
        "patiMbHuPaPXheNtx.da963f475ded92960755f29f22a02446ecf7ffe530ed7eff3544f6e18f773b3f",
        "PMAK-a30540d4490052948032875d-0ce74205d468b312b4b9958764f4da12cb",
        "HRKU-AAJQvyrhrIKFx8KL0ykTYagqsKw7zPnn1oW46j2z7Pp1hz3qYJYfLHjT-Gp0",
        "dop_v1_95df15cf0200d2a47c0b3eedf879d780bad5e2f073a09025a5c0653550e4d4a1",
        "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",
        "hvs.-jCJdNu7aJlRGLa-yuNoOhSukLCyfPf6hgHG4sddOp3C3IBsy5hSKfOtSrnBdTgpo0M87-CgDMhcIwUgIyyHj9wDISPCG4J",
        "dp.pt.tGTaSQ25gWLcttoYIlmmhBpZT9nRy1R1hkXi82ykey5",
        "dapi9c69b5fe88f4c6c4751373d086390733",
        "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",
        "glsa_OSbbLul0UHKPkHEFvWWul4hO0r2TW0Kv_fe905482",
        "pul-e064108f42f3b11b82f627ee125c6500bac1630a",
        "sk.eyJ1IjoiYWNtZSIsImEiOiJjbGsxMjM0NTYifQ.2w82tj0LGGjISQduasa2qG",
        "sq0atp-4Qb8Ecj8epPaCB9IWqZ5bP",
        "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",
        "AGE-SECRET-KEY-17F5R3ZRPUCNYR4VJLF74MRNES8GLEM6JLYJ7LC0NKJ8PE6WJM0JFNKT5XS",
    ];

    /// Secrets inside a URL or a connection string: (as sent, as kept).
    const SHAPED_URLS: &[(&str, &str)] = &[
        (
            "https://hooks.slack.com/services/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",
            "https://hooks.slack.com/services/[redacted]",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/RdclfK3lZZ9YWLJ76rkfiWEvLyZvVzniYVRminy10mbr53bydg6wLDYwg_DO7v42ZaF9",
            "https://discord.com/api/webhooks/[redacted]",
        ),
        (
            "https://acme.webhook.office.com/webhookb2/1a32f1de-36c1-7c0a-1857-474a1c0f107a@4ce7c3d3-a9e2-446a-7c9a-70eeda77a1ba/IncomingWebhook/a771ead36362b1a44c0cf11ece81788c/4ce7c3d3-a9e2-446a-7c9a-70eeda77a1ba",
            "https://acme.webhook.office.com/webhookb2/[redacted]",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=+A2vgcfhbXpiJ3i4yzDHBpzgckdUrjt8byLcHxbjOoGLBOwioCGHEbWj+XXF7KCoX0x315rn6UHp5iZNrswzGP==;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=[redacted];EndpointSuffix=core.windows.net",
        ),
        (
            "https://svc:Wq7-Lk2!Jh5Gf8@api.example.com/v1/objects",
            "https://svc:[redacted]@api.example.com/v1/objects",
        ),
        (
            "postgres://app:Pg-Pa55w0rd-9Zp3@db.internal:5432/crm",
            "postgres://app:[redacted]@db.internal:5432/crm",
        ),
        (
            "https://api.example.com/cb?access_token=ya-9Zp3Wq7Lk2Jh5&state=ok",
            "https://api.example.com/cb?access_token=[redacted]&state=ok",
        ),
        (
            "https://x.example.com/a?page=2&api_key=Qx7vL9mP3n&token=t0k-88&sort=name",
            "https://x.example.com/a?page=2&api_key=[redacted]&token=[redacted]&sort=name",
        ),
        (
            "https://store.blob.core.windows.net/c/f.csv?sv=2024-01-01&sig=Zk3%2Bq9Lw%3D&se=2026",
            "https://store.blob.core.windows.net/c/f.csv?sv=2024-01-01&sig=[redacted]&se=2026",
        ),
        (
            "https://s3.example.com/f?X-Amz-Credential=AK%2F1&X-Amz-Signature=4f9b28c6eda9",
            "https://s3.example.com/f?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]",
        ),
        (
            "https://maps.example.com/v1?key=Zq81-xL4&client_secret=cs-77Hq2&password=hunter2-Qx7&pwd=Pw-Qx7vL9",
            "https://maps.example.com/v1?key=[redacted]&client_secret=[redacted]&password=[redacted]&pwd=[redacted]",
        ),
        (
            "login failed: password=hunter2-Qx7 for svc",
            "login failed: password=[redacted] for svc",
        ),
        (
            "DATABASE_URL postgres://u:***@db/x?password=*** is not valid",
            "DATABASE_URL postgres://u:***@db/x?password=*** is not valid",
        ),
    ];

    const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDm7Q0g2zB8W0l7hX2vT9k4cR6pN1sY3jF5dE8aL0uHcQAAAJgq7m0sKu5t\n-----END OPENSSH PRIVATE KEY-----";

    #[test]
    fn every_published_token_shape_is_redacted_where_it_stands() {
        for token in SHAPED_TOKENS {
            let mut value = json!({"note": format!("use {token} here"), "list": [token]});
            scrub(&mut value);
            assert_eq!(
                value,
                json!({"note": "use [redacted] here", "list": [REDACTED]}),
                "{token}"
            );
            assert_eq!(
                scrub_text(&format!("upstream said ({token}), retry")),
                "upstream said ([redacted]), retry",
                "{token}"
            );
            assert_eq!(scrub_string(token.to_string()), REDACTED, "{token}");
        }
    }

    #[test]
    fn urls_keep_their_host_and_lose_their_userinfo_password_and_secret_parameters() {
        for (sent, kept) in SHAPED_URLS {
            let mut value = json!({"webhook": sent});
            scrub(&mut value);
            assert_eq!(value, json!({"webhook": kept}), "{sent}");
            assert_eq!(scrub_text(sent), *kept, "{sent}");
            assert_eq!(
                scrub_text(kept),
                *kept,
                "scrubbing twice changes nothing more"
            );
        }
    }

    #[test]
    fn pem_private_keys_are_redacted_whole_wherever_they_stand() {
        let mut value =
            json!({"sshKey": {"pem": PEM}, "note": format!("key:{PEM}"), "cut": &PEM[..80]});
        scrub(&mut value);
        assert_eq!(
            value,
            json!({"sshKey": {"pem": REDACTED}, "note": REDACTED, "cut": REDACTED})
        );
        assert!(!scrub_text(&format!("loaded {PEM} ok")).contains("b3BlbnNzaC1rZXkt"));
    }

    #[test]
    fn every_documented_shape_has_a_sample_and_the_readme_lists_it() {
        assert!(shapes::all_compile(), "every shape compiles");
        let readme = include_str!("../README.md");
        let samples: Vec<&str> = SHAPED_TOKENS
            .iter()
            .copied()
            .chain(SHAPED_URLS.iter().map(|(sent, _)| *sent))
            .chain([PEM])
            .collect();
        for (name, pattern) in shapes::TOKENS {
            let re = regex::Regex::new(pattern).unwrap();
            assert!(
                samples.iter().any(|s| re.is_match(s)),
                "no sample of {name}"
            );
            assert!(readme.contains(name), "the README does not list {name}");
        }
    }

    #[test]
    fn ordinary_text_that_resembles_a_shape_is_kept() {
        for text in [
            "sk-learn",
            "task-12345678901234567890123456",
            "SKU-4410 desk-top",
            "key-value store",
            "AKIA",
            "ghp_short",
            "xoxo-hugs",
            "Skip SKETCHY key",
            "https://example.com/path?page=2&sort=name#top",
            "ssh://git@github.com/acme/repo.git",
            "mailto:ops@example.com",
            "a=b, rows=5, monkey=3, primary_key=id",
            "2 + 2 = 4",
            "dGVzdA==",
        ] {
            assert_eq!(scrub_text(text), text);
            let mut value = json!({"note": text});
            scrub(&mut value);
            assert_eq!(value, json!({"note": text}));
        }
    }

    #[test]
    fn fields_named_for_passwords_passphrases_and_secret_keys_are_dropped() {
        for name in [
            "pwd",
            "dbPwd",
            "passphrase",
            "sshPassphrase",
            "signingKey",
            "hmacKey",
            "HMAC_KEY",
            "encryptionKey",
            "webhookSigningKey",
            "sessionKey",
            "passcode",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "key",
            "sortKey",
            "objectKey",
            "publicKey",
            "keyId",
            "monkey",
            "passenger",
            "cwd",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn an_oauth_grant_loses_its_authorization_code_and_verifier() {
        let mut grant = json!({"code": "4/0AY0e-g7Qx", "codeVerifier": "v-9Zp3", "state": "s1", "redirectUri": "https://app.example.com/cb", "idToken": "x"});
        let Value::Object(map) = &mut grant else {
            unreachable!()
        };
        scrub_oauth_grant(map);
        assert_eq!(
            grant,
            json!({"state": "s1", "redirectUri": "https://app.example.com/cb"})
        );
    }
}
