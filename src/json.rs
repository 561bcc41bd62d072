//! Result values as JSON text, the form rows cross the wasm boundary in (see
//! `src/js/values.rs`). Pure text work, so it is tested natively.
//!
//! Values arrive in text format. Most are copied straight into the JSON (integers, floats,
//! booleans, `json`/`jsonb`, integer arrays) or as JSON strings (text, `numeric`, `uuid`, dates
//! and times, `interval`, `inet`, …: their text is what the TS layer hands out); arrays are
//! parsed and each element written as its type's values are. Values JSON cannot carry exactly
//! are written as strings or numbers and finished by the TS layer according to the column's
//! [`ColumnKind`]: `int8` → `bigint`, `timestamptz` → `Date`, non-finite floats →
//! `NaN`/`Infinity`. A `bytea` value's bytes go to a byte buffer beside the text, and the text
//! holds its length: the TS layer cuts the buffer into `Uint8Array`s in value order.
//!
//! This path never builds a [`crate::proto::types::Value`]: the wasm then carries none of the
//! Rust API's decoders and printers (numeric, interval, network, float printing and parsing),
//! which were about a quarter of its gzip size. The tests check that it writes what decoding
//! to a `Value` would.

use crate::error::{Error, Result};
use crate::proto::types::{
    Format, MAXDIM, Oid, Timestamp, char_text, element_oid, hex_value, oid, parse_bytea,
    parse_literal, type_name,
};

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

/// How one column's values are written, chosen once per column (not per value).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Emitter {
    how: How,
    type_oid: Oid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `int2`/`int4`/`oid`: copied when it is an integer as Postgres prints one, within the
    /// type's range; otherwise read as Rust reads an integer (`+7`, `007`).
    Integer(Range),
    /// `float4`/`float8`: copied when it is a JSON number (Postgres prints every finite float
    /// as one); `NaN`, `Infinity` and `-Infinity` as strings.
    Float,
    /// `bool`: `t` or `f`.
    Bool,
    /// Integer arrays: copied as JSON arrays when of the plain shape, else as [`How::Array`].
    IntArray(Range),
    /// Other arrays: parsed, each element written as its type's values are.
    Array,
    /// `bytea` (hex, or the legacy escape format): the bytes beside the text.
    Bytea,
    /// `json`/`jsonb`: copied.
    Json,
    /// `timestamptz`: milliseconds since the epoch.
    TimestampTz,
    /// `timestamp`: its ISO text with a `T`.
    Timestamp,
    /// `"char"`: a byte, not UTF-8 text.
    Char,
    /// Everything else: the text as a JSON string.
    String,
    /// Binary format, which the JSON path never asks for.
    Binary,
}

impl Emitter {
    pub(crate) fn new(type_oid: Oid, format: Format) -> Emitter {
        let how = match (format, type_oid) {
            (Format::Binary, _) => How::Binary,
            (_, oid::INT2) => How::Integer(INT2),
            (_, oid::INT4) => How::Integer(INT4),
            (_, oid::OID) => How::Integer(OID),
            (_, oid::FLOAT4 | oid::FLOAT8) => How::Float,
            (_, oid::BOOL) => How::Bool,
            (_, oid::INT2_ARRAY) => How::IntArray(INT2),
            (_, oid::INT4_ARRAY) => How::IntArray(INT4),
            (_, oid::OID_ARRAY) => How::IntArray(OID),
            (_, oid::BYTEA) => How::Bytea,
            (_, oid::JSON | oid::JSONB) => How::Json,
            (_, oid::TIMESTAMPTZ) => How::TimestampTz,
            (_, oid::TIMESTAMP) => How::Timestamp,
            (_, oid::CHAR) => How::Char,
            (_, other) if element_oid(other).is_some() => How::Array,
            _ => How::String,
        };
        Emitter { how, type_oid }
    }

    /// Writes one non-NULL value as JSON, copying text-format bytes where they already are
    /// JSON; a `bytea` value's bytes go to `bytes`. A value its type's reader refuses (types
    /// handed out as strings are only checked to be UTF-8) is a decode error, and nothing of
    /// it is written to `bytes`.
    pub(crate) fn emit(&self, out: &mut String, bytes: &mut Vec<u8>, raw: &[u8]) -> Result<()> {
        let utf8 = |raw| {
            std::str::from_utf8(raw).map_err(|_| Error::decode("the server sent invalid UTF-8"))
        };
        // Values checked to be ASCII of a JSON shape are copied without a UTF-8 check.
        match self.how {
            How::Integer(range) if is_integer(raw, range) => push_ascii(out, raw),
            // An unsigned type refuses any sign, `-0` too (as `u32` parsing does).
            How::Integer((min, max)) => match utf8(raw)?.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) && !(min == 0 && raw[0] == b'-') => {
                    push_int(out, n)
                }
                _ => return Err(self.invalid()),
            },
            How::Float if is_json_number(raw) => push_ascii(out, raw),
            How::Float if matches!(raw, b"NaN" | b"Infinity" | b"-Infinity") => {
                out.push('"');
                push_ascii(out, raw);
                out.push('"');
            }
            How::Bool if raw == b"t" => out.push_str("true"),
            How::Bool if raw == b"f" => out.push_str("false"),
            How::Float | How::Bool => return Err(self.invalid()),
            How::IntArray(range) if push_int_array(out, raw, range) => {}
            How::IntArray(_) | How::Array => self.array(out, bytes, utf8(raw)?)?,
            How::Bytea if push_hex_bytes(bytes, raw) => push_int(out, (raw.len() / 2 - 1) as i64),
            How::Bytea => {
                let value = parse_bytea(utf8(raw)?)?;
                bytes.extend_from_slice(&value);
                push_int(out, value.len() as i64);
            }
            How::Json => out.push_str(utf8(raw)?),
            How::TimestampTz => {
                let ts = Timestamp::parse_tz(utf8(raw)?)?;
                match ts.unix_micros() {
                    Some(us) => push_int(out, us.div_euclid(1000)),
                    None => push_json_string(out, &ts.utc().to_string()),
                }
            }
            How::Timestamp => {
                let ts = Timestamp::parse(utf8(raw)?)?;
                push_json_string(out, &ts.to_string().replacen(' ', "T", 1));
            }
            How::Char => push_json_string(out, &char_text(raw)?),
            How::String => push_json_string(out, utf8(raw)?),
            How::Binary => {
                return Err(Error::decode(
                    "a binary-format value where the text format was asked for",
                ));
            }
        }
        Ok(())
    }

    fn invalid(&self) -> Error {
        Error::decode(format!(
            "invalid {} value in text format",
            type_name(self.type_oid)
        ))
    }

    /// An array's text (`{…}`, with an optional `[l:u]…=` prefix) as nested JSON arrays; its
    /// elements as the element type's values are written (a `bytea` element's bytes go to
    /// `bytes` too). Nothing goes to `bytes` if the text turns out malformed.
    fn array(&self, out: &mut String, bytes: &mut Vec<u8>, text: &str) -> Result<()> {
        let literal = parse_literal(text)
            .ok_or_else(|| Error::decode("malformed array literal in text format"))?;
        let element = Emitter::new(
            element_oid(self.type_oid).unwrap_or(oid::TEXT),
            Format::Text,
        );
        let lens: Vec<usize> = literal.dims.iter().map(|d| d.len.max(0) as usize).collect();
        if lens.is_empty() {
            out.push_str("[]");
            return Ok(());
        }
        let start = bytes.len();
        let written = element.dim(out, bytes, &lens, &mut literal.elements.iter());
        if written.is_err() {
            bytes.truncate(start);
        }
        written
    }

    /// One dimension of an array, `lens` the lengths of it and the ones inside it.
    fn dim<'a>(
        &self,
        out: &mut String,
        bytes: &mut Vec<u8>,
        lens: &[usize],
        elements: &mut impl Iterator<Item = &'a Option<String>>,
    ) -> Result<()> {
        out.push('[');
        for i in 0..lens[0] {
            if i > 0 {
                out.push(',');
            }
            if lens.len() > 1 {
                self.dim(out, bytes, &lens[1..], elements)?;
            } else {
                match elements.next() {
                    Some(Some(text)) => self.emit(out, bytes, text.as_bytes())?,
                    _ => out.push_str("null"),
                }
            }
        }
        out.push(']');
        Ok(())
    }
}

/// Appends the bytes of a hex-format `bytea` (`\x` and two digits per byte) to `bytes`; false
/// (nothing appended) if `raw` is not of that form.
fn push_hex_bytes(bytes: &mut Vec<u8>, raw: &[u8]) -> bool {
    if !raw.starts_with(b"\\x") || !raw.len().is_multiple_of(2) {
        return false;
    }
    let start = bytes.len();
    for pair in raw[2..].chunks_exact(2) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(high), Some(low)) => bytes.push(high << 4 | low),
            _ => {
                bytes.truncate(start);
                return false;
            }
        }
    }
    true
}

/// Appends bytes the caller checked to be ASCII.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.extend(ascii.iter().map(|&b| char::from(b)));
}

/// An integer in decimal, without `core::fmt`. Digits come two at a time from a table, in
/// groups of eight from u32 arithmetic: a 64-bit division costs a 128-bit multiply in wasm.
pub(crate) fn push_int(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    // Full groups of eight digits, zero-padded, from the right; then the leading group.
    while n >= 100_000_000 {
        let mut group = (n % 100_000_000) as u32;
        n /= 100_000_000;
        for _ in 0..4 {
            at -= 2;
            let pair = (group % 100) as usize * 2;
            digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
            group /= 100;
        }
    }
    let mut group = n as u32;
    while group >= 100 {
        at -= 2;
        let pair = (group % 100) as usize * 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        group /= 100;
    }
    if group >= 10 {
        at -= 2;
        let pair = group as usize * 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + group as u8;
    }
    if v < 0 {
        out.push('-');
    }
    push_ascii(out, &digits[at..]);
}

/// `00`, `01`, … `99`.
const DIGIT_PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[2 * i] = b'0' + (i / 10) as u8;
        table[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// Copies an integer array's text form (`{1,-2,NULL}`, `{{1,2},{3,4}}`) as JSON (`[1,-2,null]`)
/// when it is exactly that shape; false (nothing written) for anything else (a lower-bound
/// decoration like `[0:1]={…}`, quoting, a malformed text), which takes the general decoder.
pub(crate) fn push_int_array(out: &mut String, b: &[u8], range: Range) -> bool {
    let start = out.len();
    let copied = copy_int_array(out, b, range);
    if !copied {
        out.truncate(start);
    }
    copied
}

/// [`push_int_array`]'s one pass: checks and writes as it goes (the caller drops what it wrote
/// of a text that turns out malformed). It takes what the array decoder takes in this shape:
/// every element at the same depth, sub-arrays of one level of one length, at most
/// [`MAXDIM`] levels, only the whole array empty.
fn copy_int_array(out: &mut String, b: &[u8], range: Range) -> bool {
    if b.first() != Some(&b'{') {
        return false;
    }
    out.reserve(b.len() + 8);
    // `open` levels are open; `items[l]` counts level l's items so far, `lens[l]` is the
    // count its first finished sub-array had, `ndim` the depth elements sit at.
    let mut open = 0usize;
    let mut items = [0usize; MAXDIM];
    let mut lens = [None::<usize>; MAXDIM];
    let mut ndim = None::<usize>;
    // After `{` or `,` an element or `{` (or, after `{`, `}`) must follow.
    let mut want_value = true;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if want_value => {
                if open == MAXDIM || (open > 0 && ndim.is_some_and(|n| n <= open)) {
                    return false;
                }
                items[open] = 0;
                open += 1;
                out.push('[');
            }
            b'}' if open > 0 && (!want_value || b[i - 1] == b'{') => {
                open -= 1;
                let count = items[open];
                if count == 0 && open > 0 {
                    return false;
                }
                if count > 0 && *lens[open].get_or_insert(count) != count {
                    return false;
                }
                want_value = false;
                out.push(']');
                if open == 0 {
                    return i + 1 == b.len();
                }
                items[open - 1] += 1;
            }
            b',' if !want_value && open > 0 => {
                want_value = true;
                out.push(',');
            }
            c @ (b'N' | b'-' | b'0'..=b'9') if want_value => {
                if *ndim.get_or_insert(open) != open {
                    return false;
                }
                if c == b'N' {
                    if !b[i..].starts_with(b"NULL") {
                        return false;
                    }
                    out.push_str("null");
                    i += 3;
                } else {
                    let mut end = i + 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                    if !is_integer(&b[i..end], range) {
                        return false;
                    }
                    push_ascii(out, &b[i..end]);
                    i = end - 1;
                }
                items[open - 1] += 1;
                want_value = false;
            }
            _ => return false,
        }
        i += 1;
    }
    false
}

/// The values an integer type holds, inclusive.
type Range = (i64, i64);
const INT2: Range = (i16::MIN as i64, i16::MAX as i64);
const INT4: Range = (i32::MIN as i64, i32::MAX as i64);
const OID: Range = (0, u32::MAX as i64);

/// True when `s` is an integer as Postgres prints one (no `+`, no leading zeros, no `-0`)
/// within `range`: its text is then the JSON of the value.
fn is_integer(s: &[u8], (min, max): Range) -> bool {
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, s),
    };
    if digits.is_empty()
        || digits.len() > 10
        || (digits[0] == b'0' && (digits.len() > 1 || negative))
    {
        return false;
    }
    let Some(n) = digits.iter().try_fold(0i64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
    }) else {
        return false;
    };
    (min..=max).contains(&if negative { -n } else { n })
}

/// True when `s` is a JSON number, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` (Postgres'
/// float output is, but for NaN and the infinities).
fn is_json_number(s: &[u8]) -> bool {
    let mut i = usize::from(s.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let first = s.get(i).copied();
    let whole = digits(&mut i);
    if whole == 0 || (whole > 1 && first == Some(b'0')) {
        return false;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Eight bytes at a time up to the first that may need an escape.
    let clean = s
        .as_bytes()
        .chunks_exact(8)
        .take_while(|chunk| <[u8; 8]>::try_from(*chunk).is_ok_and(|c| !may_escape(c)))
        .count()
        * 8;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate().skip(clean) {
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
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// True if one of the eight bytes is below 0x20, `"` or `\\` (the word-at-a-time "has a zero
/// byte" and "has a byte less than n" tests, exact as to whether there is one).
fn may_escape(chunk: [u8; 8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let x = u64::from_le_bytes(chunk);
    let below = x.wrapping_sub(ONES * 0x20) & !x;
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    (below | (quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash))
        & HIGHS
        != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::types::{Value, decode};

    // The decoder's JSON: a value decoded to a `Value`, then written. This is what the JSON path
    // must write for every text Postgres prints (the wasm wrote this until it left the decoders
    // out); floats may be spelled differently but must be the same number.
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

    fn push_display(out: &mut String, v: impl std::fmt::Display) {
        let _ = std::fmt::Write::write_fmt(out, format_args!("{v}"));
    }

    fn raw(type_oid: Oid, text: &str) -> String {
        let mut out = String::new();
        Emitter::new(type_oid, Format::Text)
            .emit(&mut out, &mut Vec::new(), text.as_bytes())
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
            "",
            "{",
            "}",
            "{1,}",
            "{,1}",
            "{1,,2}",
            "{1}{2}",
            "{1}x",
            "{-}",
            "{007}",
            "{NUL}",
            "{NULLX}",
            "{1 2}",
            "{{1},2",
            "{1}}",
            "{\"1\"}",
            "{1.5}",
            "{{1},{2,3}}",
            "{1,{2}}",
            "{{1},2}",
            "{{}}",
            "{{{{{{{1}}}}}}}",
            "{2147483648}",
            "{-0}",
            "{+1}",
        ] {
            let mut out = String::new();
            assert!(
                !push_int_array(&mut out, text.as_bytes(), INT4),
                "{text:?} was copied as {out:?}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn bytea_goes_beside_the_text_as_bytes() {
        let (mut out, mut bytes) = (String::new(), Vec::new());
        for text in ["\\xdeadBEEF", "\\x", "\\x00ff"] {
            Emitter::new(oid::BYTEA, Format::Text)
                .emit(&mut out, &mut bytes, text.as_bytes())
                .unwrap();
            out.push(',');
        }
        // An array of bytea (decoded, then written the same way).
        let array = br#"{"\\x01",NULL}"#;
        Emitter::new(oid::BYTEA_ARRAY, Format::Text)
            .emit(&mut out, &mut bytes, array)
            .unwrap();
        assert_eq!(out, "4,0,2,[1,null]");
        assert_eq!(bytes, [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x01]);
        // Not hex: the general decoder's error, and nothing left in the buffer.
        for text in ["\\xabc", "\\xzz"] {
            let before = bytes.len();
            assert!(
                Emitter::new(oid::BYTEA, Format::Text)
                    .emit(&mut out, &mut bytes, text.as_bytes())
                    .is_err()
            );
            assert_eq!(bytes.len(), before);
        }
    }

    #[test]
    fn strings_escape_wherever_the_byte_is() {
        let plain = "abcdefghijklmnopqrstuvwxyz0123456789é€";
        for special in ['"', '\\', '\n', '\r', '\t', '\u{1}', '\u{1f}'] {
            for at in 0..=plain.chars().count() {
                let mut text: String = plain.chars().take(at).collect();
                text.push(special);
                text.extend(plain.chars().skip(at));
                let mut out = String::new();
                push_json_string(&mut out, &text);
                let mut want = String::from("\"");
                for c in text.chars() {
                    match c {
                        '"' => want.push_str("\\\""),
                        '\\' => want.push_str("\\\\"),
                        '\n' => want.push_str("\\n"),
                        '\r' => want.push_str("\\r"),
                        '\t' => want.push_str("\\t"),
                        c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04x}", c as u32)),
                        c => want.push(c),
                    }
                }
                want.push('"');
                assert_eq!(out, want, "{text:?}");
            }
        }
        // No byte of a multi-byte character looks like one to escape.
        let mut out = String::new();
        push_json_string(&mut out, "€€€€ü ÿ\u{7f}\u{80}");
        assert_eq!(out, "\"€€€€ü ÿ\u{7f}\u{80}\"");
    }

    /// Mutations of typical values: cut at every length, and each byte replaced in turn.
    fn mutations(seed: &str) -> Vec<Vec<u8>> {
        const SWAPS: &[u8] = b"09-+:. {},Nxe\\\"\0\xff";
        let seed = seed.as_bytes();
        let mut out: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
        for i in 0..seed.len() {
            for &swap in SWAPS {
                let mut v = seed.to_vec();
                v[i] = swap;
                out.push(v);
            }
        }
        out
    }

    /// JSON text and the bytes beside it.
    type Written = Result<(String, Vec<u8>)>;

    /// The JSON path's output and the decoder's for one text.
    fn both(type_oid: Oid, raw: &[u8]) -> (Written, Written) {
        let (mut out, mut bytes) = (String::new(), Vec::new());
        let path = Emitter::new(type_oid, Format::Text)
            .emit(&mut out, &mut bytes, raw)
            .map(|()| (out, bytes));
        let decoder = decode(type_oid, Format::Text, raw).map(|value| {
            let (mut out, mut bytes) = (String::new(), Vec::new());
            emit_value(&mut out, &mut bytes, &value);
            (out, bytes)
        });
        (path, decoder)
    }

    /// JSON with every number outside strings respelled as Rust prints the `f64` (the path
    /// copies Postgres' float digits, the decoder printed its own), and `"NaN"`/`"Infinity"`
    /// strings as the TS layer reads them in a float column.
    fn numbers_read(json: &str) -> String {
        let mut out = String::new();
        let mut chars = json.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_string {
                out.push(c);
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => in_string = false,
                    _ => {}
                }
            } else if c == '-' || c.is_ascii_digit() {
                let mut number = String::from(c);
                while let Some(&d) = chars.peek() {
                    if !(d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-')) {
                        break;
                    }
                    number.push(d);
                    chars.next();
                }
                out.push_str(&format!("{:?}", number.parse::<f64>().unwrap()));
            } else {
                in_string = c == '"';
                out.push(c);
            }
        }
        out.replace("\"-Infinity\"", "-inf")
            .replace("\"Infinity\"", "inf")
            .replace("\"NaN\"", "NaN")
    }

    fn is_float(type_oid: Oid) -> bool {
        matches!(
            element_oid(type_oid).unwrap_or(type_oid),
            oid::FLOAT4 | oid::FLOAT8
        )
    }

    /// A type whose text the path hands out as a string without reading it (the decoder reads
    /// it, and may refuse it).
    fn passed_as_text(type_oid: Oid) -> bool {
        let scalar = element_oid(type_oid).unwrap_or(type_oid);
        Emitter::new(scalar, Format::Text).how == How::String
    }

    /// Every value Postgres printed (the recorded outputs) and, as one- and two-element arrays,
    /// every one of them with an array type: written as the decoder writes it.
    #[test]
    fn what_postgres_prints_is_written_as_the_decoder_writes_it() {
        let mut texts: Vec<(Oid, String)> = Vec::new();
        for &(type_oid, text, _) in crate::proto::types::fixtures::RECORDED {
            texts.push((type_oid, text.to_owned()));
            if let Some(array) = crate::proto::types::array_oid(type_oid) {
                let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
                texts.push((array, format!("{{\"{quoted}\"}}")));
                texts.push((array, format!("[0:1]={{NULL,\"{quoted}\"}}")));
                texts.push((array, format!("{{{{\"{quoted}\"}},{{NULL}}}}")));
            }
        }
        assert!(texts.len() > 400, "{}", texts.len());
        for (type_oid, text) in texts {
            match both(type_oid, text.as_bytes()) {
                (Ok((p, pb)), Ok((d, db))) => {
                    let (p, d) = match is_float(type_oid) {
                        true => (numbers_read(&p), numbers_read(&d)),
                        false => (p, d),
                    };
                    assert_eq!((p, pb), (d, db), "{text:?} (oid {type_oid})");
                }
                (p, d) => panic!("{text:?} (oid {type_oid}): path {p:?}, decoder {d:?}"),
            }
        }
    }

    /// Mutated texts: what the path writes, the decoder reads as the same value; what the path
    /// refuses, the decoder refuses too or reads from a spelling Postgres never prints (its
    /// value prints otherwise: `1.` for `1`, `+7` for `7`). Pass-through types are read by
    /// the TS layer's user, not here.
    #[test]
    fn the_copying_paths_agree_with_the_decoder() {
        let seeds: &[(Oid, &str)] = &[
            (oid::INT2, "-32768"),
            (oid::INT2, "32767"),
            (oid::INT4, "-2147483648"),
            (oid::INT4, "2147483647"),
            (oid::INT4, "10"),
            (oid::OID, "4294967295"),
            (oid::OID, "10"),
            (oid::INT2, "+7"),
            (oid::FLOAT8, "1.25e+30"),
            (oid::FLOAT8, "-0.5"),
            (oid::FLOAT8, "12345678901234567"),
            (oid::FLOAT4, "Infinity"),
            (oid::BOOL, "t"),
            (oid::BOOL, "f"),
            (oid::INT2_ARRAY, "{{1,-2},{NULL,32767}}"),
            (oid::INT4_ARRAY, "{10,-2147483648,NULL}"),
            (oid::OID_ARRAY, "{0,4294967295}"),
            (oid::BYTEA, "\\x00ffA0"),
            (oid::BYTEA, "a\\\\b\\000"),
            (oid::TIMESTAMPTZ, "2024-02-29 23:59:59.123456+05:30:15"),
            (oid::TIMESTAMP, "2024-02-29 23:59:59.5"),
            (oid::TIMESTAMP, "0044-03-15 12:00:00 BC"),
            (oid::CHAR, "\\101"),
            (oid::FLOAT8_ARRAY, "{1.5,-0,NaN,1e+20}"),
            (oid::BOOL_ARRAY, "{t,f,NULL}"),
            (oid::TEXT_ARRAY, "{\"a,b\",\"c\\\"d\",NULL,e}"),
            (oid::BYTEA_ARRAY, "{\"\\\\x01ff\",NULL}"),
            (
                oid::TIMESTAMPTZ_ARRAY,
                "{\"2024-01-01 00:00:01.5+00\",infinity}",
            ),
        ];
        let mut checked = 0;
        for &(type_oid, seed) in seeds {
            for raw in mutations(seed) {
                let shown = String::from_utf8_lossy(&raw);
                match both(type_oid, &raw) {
                    (Ok((p, pb)), Ok((d, db))) => {
                        let (p, d) = match is_float(type_oid) {
                            true => (numbers_read(&p), numbers_read(&d)),
                            false => (p, d),
                        };
                        assert_eq!((p, pb), (d, db), "{shown:?} (oid {type_oid})");
                    }
                    (Err(_), Err(_)) => {}
                    (Ok(_), Err(_)) if passed_as_text(type_oid) => {}
                    (Err(_), Ok(_)) => {
                        let printed = decode(type_oid, Format::Text, &raw).unwrap().to_string();
                        assert_ne!(printed.as_bytes(), &raw[..], "{shown:?} (oid {type_oid})");
                    }
                    (p, d) => panic!("{shown:?} (oid {type_oid}): path {p:?}, decoder {d:?}"),
                }
                checked += 1;
            }
        }
        assert!(checked > 4000, "{checked}");
    }

    /// Server text is untrusted: pseudo-random texts for every type (and its array, and types
    /// it does not know) never panic, and a refused value leaves the byte buffer as it was.
    #[test]
    fn arbitrary_text_never_panics() {
        const PIECES: &[&str] = &[
            "{",
            "}",
            ",",
            "\"",
            "\\",
            "NULL",
            "null",
            "[0:1]=",
            "[",
            "]",
            ":",
            "=",
            " ",
            "-",
            "+",
            ".",
            "e",
            "E",
            "0",
            "7",
            "99999999999",
            "t",
            "f",
            "\\x",
            "ff",
            "zz",
            "\\000",
            "\\377",
            "BC",
            "infinity",
            "2024-02-29 23:59:59.5",
            "+05:30",
            "NaN",
            "Infinity",
            "é",
            "\u{0}",
            "\n",
        ];
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut oids: Vec<Oid> = (0..3000)
            .filter(|&o| crate::proto::types::array_oid(o).is_some() || element_oid(o).is_some())
            .collect();
        oids.extend([oid::UNKNOWN, 600, 1017, 0]);
        assert!(oids.len() > 50, "{}", oids.len());
        let mut refused = 0;
        for &type_oid in &oids {
            let emitter = Emitter::new(type_oid, Format::Text);
            for _ in 0..400 {
                let mut raw = Vec::new();
                for _ in 0..next(12) {
                    match next(8) {
                        0 => raw.push(next(256) as u8),
                        _ => raw.extend_from_slice(PIECES[next(PIECES.len())].as_bytes()),
                    }
                }
                let (mut out, mut bytes) = (String::new(), vec![1, 2, 3]);
                if emitter.emit(&mut out, &mut bytes, &raw).is_err() {
                    assert_eq!(bytes, [1, 2, 3], "{:?}", String::from_utf8_lossy(&raw));
                    refused += 1;
                }
            }
        }
        assert!(refused > 1000, "{refused}");
        // Binary format is never read here.
        assert!(
            Emitter::new(oid::INT4, Format::Binary)
                .emit(&mut String::new(), &mut Vec::new(), &[0, 0, 0, 1])
                .is_err()
        );
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
