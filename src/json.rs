//! Result values as JSON text, the form rows cross the wasm boundary in (see
//! `src/js/values.rs`). Pure text work, so it is tested natively.
//!
//! Most text-format values are copied straight into the JSON (integers, floats, booleans,
//! `json`/`jsonb`, integer arrays), the rest are decoded first. Values JSON cannot carry
//! exactly are written as strings or numbers and finished by the TS layer according to the
//! column's [`ColumnKind`]: `int8` → `bigint`, `timestamptz` → `Date`, non-finite floats →
//! `NaN`/`Infinity`. A `bytea` value's bytes go to a byte buffer beside the text, and the text
//! holds its length: the TS layer cuts the buffer into `Uint8Array`s in value order.

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::proto::types::{Format, Oid, Timestamp, Value, decode, element_oid, oid};

/// How the TS layer finishes a column's JSON values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// As parsed.
    Plain = 0,
    /// Decimal string → `BigInt`.
    BigInt = 1,
    /// Milliseconds since the epoch → `Date` (strings `infinity`/`-infinity` stay).
    Date = 2,
    /// Length of the next bytes in the side buffer → `Uint8Array`.
    Bytes = 3,
    /// `"NaN"`, `"Infinity"`, `"-Infinity"` → number.
    Float = 4,
}

pub(crate) fn kind_of(type_oid: Oid) -> ColumnKind {
    match element_oid(type_oid).unwrap_or(type_oid) {
        oid::INT8 => ColumnKind::BigInt,
        oid::TIMESTAMPTZ => ColumnKind::Date,
        oid::BYTEA => ColumnKind::Bytes,
        oid::FLOAT4 | oid::FLOAT8 => ColumnKind::Float,
        _ => ColumnKind::Plain,
    }
}

/// Writes one non-NULL value as JSON, copying text-format bytes where they already are JSON;
/// a `bytea` value's bytes go to `bytes`.
pub(crate) fn emit_raw(
    out: &mut String,
    bytes: &mut Vec<u8>,
    type_oid: Oid,
    format: Format,
    raw: &[u8],
) -> Result<()> {
    if format == Format::Text {
        // Values checked to be ASCII of a JSON shape are copied without a UTF-8 check.
        match type_oid {
            oid::INT2 | oid::INT4 | oid::OID if is_integer(raw) => {
                push_ascii(out, raw);
                return Ok(());
            }
            oid::FLOAT4 | oid::FLOAT8 if is_json_number(raw) => {
                push_ascii(out, raw);
                return Ok(());
            }
            oid::BOOL => {
                out.push_str(if raw == b"t" { "true" } else { "false" });
                return Ok(());
            }
            oid::INT2_ARRAY | oid::INT4_ARRAY | oid::OID_ARRAY if push_int_array(out, raw) => {
                return Ok(());
            }
            // bytea_output=hex: the digits after `\x`, two per byte.
            oid::BYTEA if raw.starts_with(b"\\x") && raw.len().is_multiple_of(2) => {
                let start = bytes.len();
                for pair in raw[2..].chunks_exact(2) {
                    match (hex_digit(pair[0]), hex_digit(pair[1])) {
                        (Some(high), Some(low)) => bytes.push(high << 4 | low),
                        _ => {
                            // Not hex after all: the general decoder says what is wrong.
                            bytes.truncate(start);
                            break;
                        }
                    }
                }
                if bytes.len() - start == (raw.len() - 2) / 2 {
                    push_int(out, (bytes.len() - start) as i64);
                    return Ok(());
                }
            }
            _ => {}
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| Error::decode("the server sent invalid UTF-8"))?;
        match type_oid {
            oid::JSON | oid::JSONB => {
                out.push_str(text);
                return Ok(());
            }
            oid::TIMESTAMPTZ => {
                match Timestamp::parse_tz(text)?.unix_micros() {
                    Some(us) => push_int(out, us.div_euclid(1000)),
                    None => push_json_string(out, text),
                }
                return Ok(());
            }
            oid::TEXT
            | oid::VARCHAR
            | oid::BPCHAR
            | oid::NAME
            | oid::UUID
            | oid::NUMERIC
            | oid::INT8
            | oid::DATE
            | oid::TIME
            | oid::TIMETZ
            | oid::INTERVAL
            | oid::INET
            | oid::CIDR
            | oid::FLOAT4
            | oid::FLOAT8 => {
                push_json_string(out, text);
                return Ok(());
            }
            _ => {}
        }
    }
    emit_value(out, bytes, &decode(type_oid, format, raw)?);
    Ok(())
}

/// The value of one hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends bytes the caller checked to be ASCII.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.extend(ascii.iter().map(|&b| char::from(b)));
}

fn emit_value(out: &mut String, bytes: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(v) => push_int(out, i64::from(*v)),
        Value::Int4(v) => push_int(out, i64::from(*v)),
        Value::Oid(v) => push_int(out, i64::from(*v)),
        Value::Float4(v) if v.is_finite() => push_display(out, value),
        Value::Float8(v) if v.is_finite() => push_display(out, value),
        Value::Json(text) | Value::Jsonb(text) => out.push_str(text),
        Value::Bytea(b) => {
            bytes.extend_from_slice(b);
            push_int(out, b.len() as i64);
        }
        Value::Timestamp(_) => push_json_string(out, &value.to_string().replacen(' ', "T", 1)),
        Value::TimestampTz(ts) => match ts.unix_micros() {
            Some(us) => push_int(out, us.div_euclid(1000)),
            None => push_json_string(out, &value.to_string()),
        },
        Value::Array(array) => {
            let lens: Vec<usize> = array.dims.iter().map(|d| d.len.max(0) as usize).collect();
            if lens.is_empty() {
                out.push_str("[]");
            } else {
                let mut at = 0;
                emit_dim(out, bytes, &array.elements, &lens, &mut at);
            }
        }
        Value::Unknown { bytes: b, .. } => push_hex_string(out, b),
        // Text-like values, int8 and numeric as strings.
        _ => push_json_string(out, &value.to_string()),
    }
}

fn emit_dim(
    out: &mut String,
    bytes: &mut Vec<u8>,
    elements: &[Value],
    lens: &[usize],
    at: &mut usize,
) {
    out.push('[');
    for i in 0..lens[0] {
        if i > 0 {
            out.push(',');
        }
        if lens.len() > 1 {
            emit_dim(out, bytes, elements, &lens[1..], at);
        } else {
            emit_value(out, bytes, elements.get(*at).unwrap_or(&Value::Null));
            *at += 1;
        }
    }
    out.push(']');
}

/// Bytes as a JSON string of lowercase hex digits.
fn push_hex_string(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2 + 2);
    out.push('"');
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out.push('"');
}

/// An integer in decimal, without `core::fmt`. Digits come in groups of eight from u32
/// arithmetic: a 64-bit division costs a 128-bit multiply in wasm.
pub(crate) fn push_int(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    // Full groups of eight digits, zero-padded, from the right; then the leading group.
    while n >= 100_000_000 {
        let mut group = (n % 100_000_000) as u32;
        n /= 100_000_000;
        for _ in 0..8 {
            at -= 1;
            digits[at] = b'0' + (group % 10) as u8;
            group /= 10;
        }
    }
    let mut group = n as u32;
    loop {
        at -= 1;
        digits[at] = b'0' + (group % 10) as u8;
        group /= 10;
        if group == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    push_ascii(out, &digits[at..]);
}

/// Copies an integer array's text form (`{1,-2,NULL}`, `{{1,2},{3,4}}`) as JSON (`[1,-2,null]`)
/// when it is exactly that shape; false (nothing written) for anything else (a lower-bound
/// decoration like `[0:1]={…}`, quoting, a malformed text), which takes the general decoder.
pub(crate) fn push_int_array(out: &mut String, b: &[u8]) -> bool {
    let mut depth = 0usize;
    // After `{` or `,` an element or `{` (or, after `{`, `}`) must follow.
    let mut want_value = true;
    let mut i = 0;
    let mut ok = !b.is_empty() && b[0] == b'{';
    while ok && i < b.len() {
        match b[i] {
            b'{' if want_value => depth += 1,
            b'}' if depth > 0 && (!want_value || b[i - 1] == b'{') => {
                depth -= 1;
                want_value = false;
            }
            b',' if !want_value && depth > 0 => want_value = true,
            b'N' if want_value && b[i..].starts_with(b"NULL") => {
                i += 3;
                want_value = false;
            }
            b'-' | b'0'..=b'9' if want_value => {
                let digits = usize::from(b[i] == b'-');
                let end = b[i + digits..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(b.len(), |n| i + digits + n);
                // JSON forbids leading zeros (`007`): Postgres never prints them.
                ok = end > i + digits && (b[i + digits] != b'0' || end == i + digits + 1);
                i = end - 1;
                want_value = false;
            }
            _ => ok = false,
        }
        i += 1;
        ok &= depth > 0 || i == b.len();
    }
    if !ok || depth != 0 {
        return false;
    }
    // Only `{}`, `,`, `-`, digits and `NULL` are left: ASCII.
    out.reserve(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => out.push('['),
            b'}' => out.push(']'),
            b'N' => {
                out.push_str("null");
                i += 3;
            }
            c => out.push(char::from(c)),
        }
        i += 1;
    }
    true
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

fn is_integer(s: &[u8]) -> bool {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// True when `s` is already a JSON number (Postgres float output mostly is; NaN/Infinity aren't).
fn is_json_number(s: &[u8]) -> bool {
    let body = s.strip_prefix(b"-").unwrap_or(s);
    body.first().is_some_and(u8::is_ascii_digit)
        && body
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(type_oid: Oid, text: &str) -> String {
        let mut out = String::new();
        emit_raw(
            &mut out,
            &mut Vec::new(),
            type_oid,
            Format::Text,
            text.as_bytes(),
        )
        .unwrap();
        out
    }

    #[test]
    fn integers_without_fmt() {
        for v in [
            0,
            7,
            -7,
            10,
            99,
            100,
            -100,
            1_234_567,
            99_999_999,
            100_000_000,
            -100_000_001,
            1_704_067_201_500,
            10_000_000_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = String::new();
            push_int(&mut out, v);
            assert_eq!(out, v.to_string());
        }
    }

    #[test]
    fn integer_arrays_are_copied_as_json() {
        assert_eq!(raw(oid::INT4_ARRAY, "{1,2,3}"), "[1,2,3]");
        assert_eq!(raw(oid::INT4_ARRAY, "{}"), "[]");
        assert_eq!(raw(oid::INT4_ARRAY, "{-1,NULL,0}"), "[-1,null,0]");
        assert_eq!(raw(oid::INT2_ARRAY, "{{1,2},{3,NULL}}"), "[[1,2],[3,null]]");
        assert_eq!(raw(oid::INT4_ARRAY, "{NULL}"), "[null]");
        // Shapes the copy does not take go through the general decoder.
        assert_eq!(raw(oid::INT4_ARRAY, "[0:1]={5,6}"), "[5,6]");
    }

    #[test]
    fn malformed_integer_arrays_are_never_copied() {
        for text in [
            "", "{", "}", "{1,}", "{,1}", "{1,,2}", "{1}{2}", "{1}x", "{-}", "{007}", "{NUL}",
            "{NULLX}", "{1 2}", "{{1},2", "{1}}", "{\"1\"}", "{1.5}",
        ] {
            let mut out = String::new();
            assert!(
                !push_int_array(&mut out, text.as_bytes()),
                "{text:?} was copied as {out:?}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn bytea_goes_beside_the_text_as_bytes() {
        let (mut out, mut bytes) = (String::new(), Vec::new());
        for text in ["\\xdeadBEEF", "\\x", "\\x00ff"] {
            emit_raw(
                &mut out,
                &mut bytes,
                oid::BYTEA,
                Format::Text,
                text.as_bytes(),
            )
            .unwrap();
            out.push(',');
        }
        // An array of bytea (decoded, then written the same way).
        let array = br#"{"\\x01",NULL}"#;
        emit_raw(&mut out, &mut bytes, oid::BYTEA_ARRAY, Format::Text, array).unwrap();
        assert_eq!(out, "4,0,2,[1,null]");
        assert_eq!(bytes, [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x01]);
        // Not hex: the general decoder's error, and nothing left in the buffer.
        for text in ["\\xabc", "\\xzz"] {
            let before = bytes.len();
            assert!(
                emit_raw(
                    &mut out,
                    &mut bytes,
                    oid::BYTEA,
                    Format::Text,
                    text.as_bytes()
                )
                .is_err()
            );
            assert_eq!(bytes.len(), before);
        }
    }

    #[test]
    fn copied_values_stay_json() {
        assert_eq!(raw(oid::INT4, "-42"), "-42");
        assert_eq!(raw(oid::FLOAT8, "1.25e+30"), "1.25e+30");
        assert_eq!(raw(oid::FLOAT8, "NaN"), "\"NaN\"");
        assert_eq!(raw(oid::BOOL, "t"), "true");
        assert_eq!(raw(oid::BOOL, "f"), "false");
        assert_eq!(
            raw(oid::TEXT, "a\"b\\c\n\u{1}"),
            "\"a\\\"b\\\\c\\n\\u0001\""
        );
        assert_eq!(
            raw(oid::TIMESTAMPTZ, "2024-01-01 00:00:01.5+00"),
            "1704067201500"
        );
        assert_eq!(raw(oid::TIMESTAMPTZ, "1969-12-31 23:59:59.9999+00"), "-1");
        assert_eq!(raw(oid::TIMESTAMPTZ, "infinity"), "\"infinity\"");
        assert_eq!(kind_of(oid::TIMESTAMPTZ), ColumnKind::Date);
    }
}
