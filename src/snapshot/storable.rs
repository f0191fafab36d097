//! What PostgreSQL cannot store, or could store but not give back, found in a record
//! before it reaches COPY: there one such value would fail the whole run, and every run
//! after it, naming no record. The snapshot rejects the record instead (see `rejects`),
//! with a reason that names the field.
//!
//! - **Numbers.** `jsonb` holds a number as `numeric`: at most 131,072 digits before the
//!   point and 16,383 after (`1e999999` overflows). It prints one without an exponent,
//!   so `1e131071`, 9 bytes sent and stored compactly, comes back as 131,072 digits, and
//!   a record of them exports as gigabytes. A number is stored when Postgres prints it
//!   in at most [`MAX_NUMBER_CHARS`] characters, which covers every `f64` (the longest,
//!   near 5e-324, prints in about 340) and every integer of up to 999 digits. A stored
//!   number then prints at most 200 times as long as it was sent (`1e999`), where
//!   Postgres's own limits allow 26,000 times (`1e131071`).
//! - **Lone UTF-16 surrogates** (`"\ud83d"`, the first half of an emoji cut in two, as
//!   JavaScript writes it): not Unicode text. serde_json refuses them in a string, and
//!   `jsonb` refuses them too; the rejected payload holds U+FFFD in their place.
//! - **Times** outside the years 1 to 9999 are refused where they are read (see
//!   `api::model`); **NUL** (`\u0000`) is replaced in the payload by `scrub::replace_nul`.

use serde_json::Value;

/// The most characters a stored number may print in (see the module docs).
pub const MAX_NUMBER_CHARS: u64 = 1_000;

/// Why a record holding a lone surrogate is rejected.
pub const LONE_SURROGATE: &str = "holds a lone UTF-16 surrogate (such as \\ud83d, half of an emoji), which is not Unicode text and which PostgreSQL cannot store; the payload holds U+FFFD in its place";

/// The characters PostgreSQL prints `number` (a JSON number's text) in: plain decimal,
/// every digit of its scale; none when its exponent is beyond any bound.
pub fn printed_len(number: &str) -> Option<u64> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let exponent = i128::from(exponent);
    let frac_len = frac.len() as i128;
    let int_digits = int.trim_start_matches('0').len() as i128;
    // Digits before the point: from the first significant digit to the point.
    let before = if int_digits > 0 {
        int_digits + exponent
    } else {
        match frac.bytes().position(|b| b != b'0') {
            Some(zeros) => exponent - zeros as i128,
            None => 0,
        }
    };
    let scale = (frac_len - exponent).max(0);
    let len = i128::from(negative) + before.max(1) + if scale > 0 { 1 + scale } else { 0 };
    u64::try_from(len).ok()
}

/// Whether PostgreSQL stores `number` and prints it within [`MAX_NUMBER_CHARS`].
pub fn number_fits(number: &str) -> bool {
    // Without an exponent a number prints no longer than it is written (plus a `0`).
    if number.len() < MAX_NUMBER_CHARS as usize && !number.contains(['e', 'E']) {
        return true;
    }
    printed_len(number).is_some_and(|len| len <= MAX_NUMBER_CHARS)
}

/// What a quick pass over a record's JSON text found (see [`scan`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// A number that does not fit (see [`number_fits`]).
    pub long_number: bool,
    /// A `\uD800`–`\uDFFF` escape without its other half.
    pub lone_surrogate: bool,
    /// A `\u0000` escape: NUL, which no PostgreSQL text holds.
    pub nul: bool,
}

impl Scan {
    pub fn clean(&self) -> bool {
        *self == Scan::default()
    }
}

/// Looks at every number and every `\u` escape of `json` (one JSON value's text), in
/// one pass that skips the rest of each string.
pub fn scan(json: &[u8]) -> Scan {
    let mut found = Scan::default();
    walk(
        json,
        |number| {
            if !found.long_number {
                found.long_number = !std::str::from_utf8(number).is_ok_and(number_fits);
            }
        },
        |_| found.lone_surrogate = true,
        || found.nul = true,
    );
    found
}

/// `json` with each lone surrogate escape written as `\ufffd`, so that it can be read.
pub fn replace_lone_surrogates(json: &[u8]) -> Vec<u8> {
    let mut out = json.to_vec();
    walk(
        json,
        |_| {},
        |at| out[at..at + 6].copy_from_slice(b"\\ufffd"),
        || {},
    );
    out
}

/// Calls `number` with each number outside strings, `lone` with the offset of each
/// lone surrogate escape inside them, and `nul` at each `\u0000`. A backslash only ever
/// appears in a string, so escapes are followed without tracking where each string
/// starts.
fn walk(
    json: &[u8],
    mut number: impl FnMut(&[u8]),
    mut lone: impl FnMut(usize),
    mut nul: impl FnMut(),
) {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                // To the string's end, escape by escape.
                while let Some(at) = memchr::memchr2(b'"', b'\\', &json[i..]) {
                    i += at;
                    if json[i] == b'"' {
                        break;
                    }
                    let unit = |at: usize| {
                        let hex = json.get(at..at + 6)?.strip_prefix(b"\\u")?;
                        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
                    };
                    match unit(i) {
                        Some(0xD800..=0xDBFF)
                            if unit(i + 6).is_some_and(|n| (0xDC00..=0xDFFF).contains(&n)) =>
                        {
                            i += 12
                        }
                        Some(0xD800..=0xDFFF) => {
                            lone(i);
                            i += 6;
                        }
                        Some(0) => {
                            nul();
                            i += 6;
                        }
                        _ => i += 2,
                    }
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len()
                    && matches!(json[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                number(&json[start..i]);
            }
            _ => i += 1,
        }
    }
}

/// Replaces each number of `value` that does not fit (see [`number_fits`]) with a string
/// of its text, so that the record can be kept as a rejected payload; returns why the
/// first one cannot be stored, naming its field.
pub fn replace_long_numbers(value: &mut Value) -> Option<String> {
    let mut first = None;
    replace_in(value, &mut String::new(), &mut first);
    first
}

fn replace_in(value: &mut Value, path: &mut String, first: &mut Option<String>) {
    match value {
        Value::Number(n) if !number_fits(n.as_str()) => {
            let text = n.as_str().to_owned();
            if first.is_none() {
                *first = Some(long_number_reason(path, &text));
            }
            *value = Value::String(text);
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                replace_in(item, path, first);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                replace_in(item, path, first);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn long_number_reason(path: &str, number: &str) -> String {
    let shown: String = if number.len() > 40 {
        format!("{}… ({} characters)", &number[..32], number.len())
    } else {
        number.to_owned()
    };
    let printed = match printed_len(number) {
        Some(len) => format!("{len} characters"),
        None => "more digits than PostgreSQL's numeric holds".to_owned(),
    };
    format!(
        "field `{path}`: the number {shown} would print in {printed}; ampsync stores numbers that PostgreSQL prints in at most {MAX_NUMBER_CHARS} characters (its numeric type holds 131072 digits before the point and 16383 after); the payload holds the number's text as a string"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_numbers_printed_length_is_what_postgres_prints() {
        // Each checked against `SELECT length('<n>'::jsonb::text)` on PostgreSQL 15.
        for (number, printed) in [
            ("1e131071", 131_072),
            ("1e-16383", 16_385),
            ("0e-5000", 5_002),
            ("1.5e-2000", 2_003),
            ("123e-1", 4),
            ("0.00123e2", 5),
            ("1.50e1", 4),
            ("-12", 3),
            ("0", 1),
            ("5e-324", 326),
            ("1.7976931348623157e308", 309),
        ] {
            assert_eq!(printed_len(number), Some(printed), "{number}");
        }
        assert_eq!(printed_len("1e99999999999999999999"), None);
    }

    #[test]
    fn numbers_fit_when_they_print_in_at_most_1000_characters() {
        assert!(number_fits("1e999"));
        assert!(number_fits("-1.5e-300"));
        assert!(number_fits(&"9".repeat(999)));
        assert!(!number_fits("1e1000"));
        assert!(!number_fits("1e999999"));
        assert!(!number_fits("0e-1000"));
        assert!(!number_fits(&"9".repeat(1001)));
    }

    #[test]
    fn the_scan_finds_long_numbers_and_lone_surrogates_outside_and_inside_strings() {
        assert!(scan(br#"{"a":"1e999999","b":[1,2.5e3],"c":"\ud83d\ude00"}"#).clean());
        assert!(scan(br#"{"a":[1,1e999999]}"#).long_number);
        assert_eq!(
            scan(br#"{"a":"cut \ud83d","b":"\\ud83d"}"#),
            Scan {
                lone_surrogate: true,
                ..Scan::default()
            }
        );
        assert!(scan(br#"{"a":"x\u0000y"}"#).nul);
        assert!(!scan(br#"{"a":"\\u0000 is text"}"#).nul);
        assert!(scan(br#"["\udc00 trailing"]"#).lone_surrogate);
        assert!(!scan(br#"["\\udc00 is text"]"#).lone_surrogate);
        assert_eq!(
            replace_lone_surrogates(br#"["a\ud83d", "\ud83d\ude00", "\\ud83d"]"#),
            br#"["a\ufffd", "\ud83d\ude00", "\\ud83d"]"#
        );
    }

    #[test]
    fn long_numbers_become_strings_and_the_first_is_named_by_its_field() {
        let mut value: Value =
            serde_json::from_str(r#"{"config":{"content":{"n":[1,1e999999]}},"m":1e131071}"#)
                .unwrap();
        let reason = replace_long_numbers(&mut value).unwrap();
        // serde_json writes the exponent's sign.
        assert!(
            reason.starts_with("field `config.content.n[1]`: the number 1e+999999 "),
            "{reason}"
        );
        assert_eq!(
            value,
            json!({"config": {"content": {"n": [1, "1e+999999"]}}, "m": "1e+131071"})
        );
        assert!(replace_long_numbers(&mut json!({"a": [1.5, -2e300]})).is_none());
    }
}
