//! The one secret filter. Every free-form JSON value that is stored (`extra`, config
//! `content`, `provider_metadata`, rejected payloads) passes through [`scrub`] first.
//!
//! A field is dropped when its name says it holds a secret (token, secret, password,
//! API key, credential, authorization, private key); a string is replaced when its value
//! looks like one (a bearer header, a JWT, a PEM private key), whatever its field is named.

use serde_json::{Map, Value};

/// What replaces a string value that looks like a secret.
pub const REDACTED: &str = "[redacted]";

/// Removes secrets from `value`, at any depth.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => scrub_map(map),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::String(text) if looks_like_secret(text) => *text = REDACTED.to_owned(),
        _ => {}
    }
}

/// Removes secrets from the fields of an object, at any depth.
pub fn scrub_map(map: &mut Map<String, Value>) {
    map.retain(|name, _| !is_secret_name(name));
    map.values_mut().for_each(scrub);
}

/// Redacts the secret-looking words of a free text, such as an error message.
pub fn scrub_text(text: &str) -> String {
    if looks_like_secret(text) {
        return REDACTED.to_owned();
    }
    text.split(' ')
        .map(|word| if is_jwt(word) { REDACTED } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// True for a field name that says it holds a secret: `accessToken`, `client_secret`,
/// `X-Api-Key`, `password`, `privateKey`, ...
pub fn is_secret_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
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
    WORDS.iter().any(|word| folded.contains(word))
}

/// True for a string that is a secret whatever field holds it.
fn looks_like_secret(text: &str) -> bool {
    let trimmed = text.trim_start();
    let lower_prefix: String = trimmed
        .chars()
        .take(7)
        .flat_map(char::to_lowercase)
        .collect();
    lower_prefix.starts_with("bearer ")
        || lower_prefix.starts_with("basic ")
        || trimmed.contains("PRIVATE KEY-----")
        || is_jwt(trimmed)
}

/// `header.payload.signature`, each base64url, the header starting `eyJ` (`{"`).
fn is_jwt(text: &str) -> bool {
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
    }
}
