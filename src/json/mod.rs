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

#[cfg(test)]
mod tests;
mod text;

use text::{INT2, INT4, OID, Range, is_integer, is_json_number, push_ascii, push_int_array};
pub(crate) use text::{push_int, push_json_string};

use crate::error::{Error, Result};
use crate::proto::types::{
    Format, Oid, Timestamp, char_text, element_oid, hex_value, oid, parse_bytea, parse_literal,
    type_name,
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
