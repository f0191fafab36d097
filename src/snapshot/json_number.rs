//! How a JSON number is written into a row's hash input.
//!
//! ampsync passes numbers through exactly (serde_json's `arbitrary_precision`): the value
//! the API sent, to the last digit, is the value stored in `jsonb`. Releases up to 0.2.0 parsed every number
//! into an `f64` (or an `i64`/`u64`) and hashed what that wrote back: `1e5` as
//! `100000.0`, `1.50` as `1.5`, and a decimal with more digits than an `f64` holds as the
//! nearest one it could (sometimes one unit in the last place off, since serde_json's
//! default parser does not always round correctly).
//!
//! So that an unchanged object keeps its stored hash across the upgrade, a number is
//! hashed as those releases wrote it whenever that text has the same decimal value as
//! the number itself: nothing was lost, and PostgreSQL's `jsonb`, which compares numbers
//! by value, holds the same value either way. Only a number those releases altered is
//! hashed as its exact text; its object then gets one new version, in which the stored
//! value is corrected.

use std::borrow::Cow;
use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

/// The text `number` (a JSON number, as sent) is hashed as: see the module docs.
pub fn hash_text(number: &str) -> Cow<'_, str> {
    // The common case: an integer that fits 64 bits was written back as it came.
    let integer = !number.contains(['.', 'e', 'E']) && !number.starts_with("-0");
    if integer && (number.parse::<u64>().is_ok() || number.parse::<i64>().is_ok()) {
        return Cow::Borrowed(number);
    }
    // Parsed exactly as those releases did: serde_json's own f64 parser.
    let Ok(float) = serde_json::from_str::<f64>(number) else {
        return Cow::Borrowed(number);
    };
    let written = match serde_json::to_string(&float) {
        Ok(text) => text,
        Err(_) => return Cow::Borrowed(number),
    };
    match (Decimal::parse(number), Decimal::parse(&written)) {
        (Some(exact), Some(old)) if exact == old => Cow::Owned(written),
        _ => Cow::Borrowed(number),
    }
}

/// Writes `value` as compact JSON with its numbers as [`hash_text`] gives them. Returns
/// whether any number was written differently from its exact text.
pub fn write_for_hash<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<bool> {
    let mut formatter = HashFormatter { rewrote: false };
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, &mut formatter);
    value.serialize(&mut serializer).map_err(io::Error::other)?;
    Ok(formatter.rewrote)
}

/// Writes `json`, compact JSON as serde_json writes it, with each number as
/// [`hash_text`] gives it; returns whether any number was written differently.
fn write_numbers_for_hash<W: io::Write + ?Sized>(w: &mut W, json: &str) -> io::Result<bool> {
    let bytes = json.as_bytes();
    let (mut done, mut at, mut rewrote) = (0, 0, false);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                // To the closing quote; an escaped character is never one.
                at += 1;
                while let Some(found) = bytes
                    .get(at..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    at += found;
                    if bytes[at] == b'"' {
                        break;
                    }
                    at += 2;
                }
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = bytes.get(at) {
                    at += 1;
                }
                let number = &json[start..at];
                let text = hash_text(number);
                if text != number {
                    w.write_all(&bytes[done..start])?;
                    w.write_all(text.as_bytes())?;
                    done = at;
                    rewrote = true;
                }
            }
            _ => at += 1,
        }
    }
    w.write_all(&bytes[done.min(bytes.len())..])?;
    Ok(rewrote)
}

/// serde_json's compact output, numbers excepted (see [`hash_text`]).
struct HashFormatter {
    rewrote: bool,
}

impl Formatter for &mut HashFormatter {
    fn write_number_str<W: io::Write + ?Sized>(
        &mut self,
        w: &mut W,
        number: &str,
    ) -> io::Result<()> {
        let text = hash_text(number);
        self.rewrote |= text != number;
        w.write_all(text.as_bytes())
    }

    // A raw value (`bridge::JsonText`, written as serde_json writes a `Value`): its
    // numbers are rewritten as they would have been in that `Value`.
    fn write_raw_fragment<W: io::Write + ?Sized>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.rewrote |= write_numbers_for_hash(w, fragment)?;
        Ok(())
    }

    // Numbers that were never text (a row's own integers) are written as they are.
    fn write_f64<W: io::Write + ?Sized>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        CompactFormatter.write_f64(w, value)
    }
}

/// A decimal's value: its significant digits (no leading or trailing zeros) and the
/// power of ten of the last one. Zero has no digits; its sign is dropped, as `jsonb`
/// drops it.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Reads a JSON number; none if it is not one, or its exponent is out of range.
    fn parse(text: &str) -> Option<Decimal> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let mantissa_end = rest
            .iter()
            .position(|b| matches!(b, b'e' | b'E'))
            .unwrap_or(rest.len());
        let (mantissa, exp_part) = rest.split_at(mantissa_end);
        let mut exponent: i64 = match exp_part.split_first() {
            None => 0,
            Some((_, exp)) => std::str::from_utf8(exp).ok()?.parse().ok()?,
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
            None => (mantissa, &mantissa[..0]),
        };
        if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
        let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
        let Some(first) = digits.iter().position(|&b| b != b'0') else {
            return Some(Decimal {
                negative: false,
                digits: Vec::new(),
                exponent: 0,
            });
        };
        let last = digits.iter().rposition(|&b| b != b'0').unwrap_or(first);
        exponent = exponent.checked_add(i64::try_from(digits.len() - 1 - last).ok()?)?;
        Some(Decimal {
            negative,
            digits: digits[first..=last].to_vec(),
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json 1 without `arbitrary_precision` (0.2.0) wrote back for each
    /// number, generated with that build.
    const WRITTEN_BY_0_2_0: &[(&str, &str)] = &[
        ("0", "0"),
        ("-0", "-0.0"),
        ("1", "1"),
        ("-1", "-1"),
        ("1.0", "1.0"),
        ("1.50", "1.5"),
        ("1e5", "100000.0"),
        ("1E5", "100000.0"),
        ("1e-7", "1e-7"),
        ("-0.0", "-0.0"),
        ("0.1", "0.1"),
        ("9875133.537942737", "9875133.537942735"),
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("18446744073709551615", "18446744073709551615"),
        ("18446744073709551616", "1.8446744073709552e+19"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("-9223372036854775809", "-9.223372036854776e+18"),
        ("3.141592653589793", "3.141592653589793"),
        ("2.5e-324", "5e-324"),
        ("1e308", "1e+308"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("123.456e2", "12345.6"),
        ("1e21", "1e+21"),
        ("1e20", "1e+20"),
        ("100", "100"),
        ("5e-1", "0.5"),
        ("12345678901234567", "12345678901234567"),
        ("4.35", "4.35"),
        ("0.000001", "1e-6"),
        ("1234567.8901234567", "1234567.8901234567"),
    ];

    /// Those whose value 0.2.0 changed.
    const ALTERED: &[&str] = &[
        "9875133.537942737",
        "123456789012345678901234567890",
        "18446744073709551616",
        "-9223372036854775809",
        "2.5e-324",
    ];

    #[test]
    fn a_number_is_hashed_as_0_2_0_wrote_it_unless_that_changed_its_value() {
        for &(number, written) in WRITTEN_BY_0_2_0 {
            let expected = if ALTERED.contains(&number) {
                number
            } else {
                written
            };
            assert_eq!(hash_text(number), expected, "{number}");
        }
    }

    #[test]
    fn decimals_compare_by_value() {
        let value = |t| Decimal::parse(t).unwrap();
        assert_eq!(value("1.50"), value("15e-1"));
        assert_eq!(value("100000.0"), value("1e5"));
        assert_eq!(value("-0.0"), value("0"));
        assert_ne!(value("1.5"), value("-1.5"));
        assert_ne!(value("0.1"), value("0.01"));
        assert!(Decimal::parse("1e99999999999999999999").is_none());
    }

    #[test]
    fn values_are_written_exactly_but_hashed_compatibly() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"a":1e5,"b":[9875133.537942737,7],"c":"1e5"}"#).unwrap();
        // Exact in value: serde_json writes the exponent's sign.
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"a":1e+5,"b":[9875133.537942737,7],"c":"1e5"}"#
        );
        let mut out = Vec::new();
        assert!(write_for_hash(&mut out, &value).unwrap());
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"a":100000.0,"b":[9875133.537942737,7],"c":"1e5"}"#
        );
        out.clear();
        assert!(!write_for_hash(&mut out, &serde_json::json!({"n": 12})).unwrap());
    }
}
