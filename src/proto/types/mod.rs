//! Postgres values: decoding column data in both wire formats, encoding parameters in the binary
//! format, and printing values exactly as Postgres prints them.
//!
//! [`decode`] turns one non-NULL column value into a [`Value`], given the column's type OID and
//! the format code of its `RowDescription` field. Text format is parsed the way Postgres 15
//! prints it under `DateStyle=ISO`, `IntervalStyle=postgres`, `bytea_output=hex` (the legacy
//! escape format is accepted too); binary format is the type's `send` format. Types outside
//! the list in [`oid`] decode to [`Value::Text`] (text format) or [`Value::Unknown`] (binary).
//!
//! [`Value::encode_binary`] writes a value in the binary format for a `Bind` parameter, and the
//! `Display` impl of [`Value`] prints what `psql` would show for it (with `TimeZone=UTC` and the
//! default `extra_float_digits=1`). For every type, decoding the binary form and decoding the
//! text form of the same value print identically.
//!
//! The binary codecs build on `postgres_protocol::types`; the text parsers and printers are
//! written here because `postgres-protocol` has none.

use std::fmt;

use bytes::{BufMut, BytesMut};
use postgres_protocol::types as pp;

use crate::error::{Error, Result};

pub mod oid;

mod array;
mod array_literal;
mod float;
mod interval;
mod network;
mod numeric;
mod scalar;
mod temporal;

#[cfg(test)]
pub(crate) mod fixtures;

pub(crate) use array::MAXDIM;
pub use array::{Array, Dim};
pub(crate) use array_literal::parse_literal;
pub use interval::Interval;
pub use network::Inet;
pub use oid::{array_oid, element_oid};
pub(crate) use scalar::{hex_value, parse_bytea};
pub use temporal::{Date, Time, TimeTz, Timestamp};

/// A Postgres type OID (`pg_type.oid`).
pub type Oid = u32;

/// The wire format of a value: the format code of a `RowDescription` field or `Bind` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The type's text output (`typoutput`): what `psql` shows.
    Text = 0,
    /// The type's binary `send` format.
    Binary = 1,
}

/// One decoded Postgres value.
///
/// `Display` prints the value exactly as Postgres 15 does (see the module docs); a top-level
/// [`Value::Null`] prints as the empty string, a NULL array element as `NULL`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `bool`.
    Bool(bool),
    /// `int2` / `smallint`.
    Int2(i16),
    /// `int4` / `integer`.
    Int4(i32),
    /// `int8` / `bigint`.
    Int8(i64),
    /// `float4` / `real`.
    Float4(f32),
    /// `float8` / `double precision`.
    Float8(f64),
    /// `oid`.
    Oid(u32),
    /// `numeric`, as lossless decimal text: `-12.3400`, `NaN`, `Infinity`, `-Infinity`.
    Numeric(String),
    /// `text`, `varchar`, `bpchar`, `name`, `unknown`, and any type this module does not know
    /// (text format).
    Text(String),
    /// The one-byte `"char"` type (OID 18).
    Char(u8),
    /// `bytea`.
    Bytea(Vec<u8>),
    /// `uuid`, as its 16 bytes in network order.
    Uuid([u8; 16]),
    /// `json`: the JSON text as stored.
    Json(String),
    /// `jsonb`: the JSON text as Postgres prints it.
    Jsonb(String),
    /// `date`.
    Date(Date),
    /// `time` (without time zone).
    Time(Time),
    /// `timetz` / `time with time zone`.
    TimeTz(TimeTz),
    /// `timestamp` (without time zone).
    Timestamp(Timestamp),
    /// `timestamptz`: an instant, counted in UTC.
    TimestampTz(Timestamp),
    /// `interval`.
    Interval(Interval),
    /// `inet`.
    Inet(Inet),
    /// `cidr`.
    Cidr(Inet),
    /// An array of any of the types above.
    Array(Array),
    /// A binary-format value of a type this module does not know.
    Unknown {
        /// The column's type OID.
        oid: Oid,
        /// The raw binary value.
        bytes: Vec<u8>,
    },
}

/// Decodes one non-NULL column value of type `oid` in `format`. (SQL NULL never reaches here:
/// the caller sees a length of -1 and makes [`Value::Null`] itself.)
///
/// Malformed input — truncated binary data, text that does not parse, invalid UTF-8 — is a
/// decode error, never a panic or a lossy conversion.
pub fn decode(oid: Oid, format: Format, raw: &[u8]) -> Result<Value> {
    if let Some(element) = element_oid(oid) {
        let array = match format {
            Format::Text => array_literal::decode_text(element, utf8(raw, oid)?)?,
            Format::Binary => array::decode_binary(element, raw)?,
        };
        return Ok(Value::Array(array));
    }
    match format {
        Format::Text => decode_text(oid, raw),
        Format::Binary => decode_binary(oid, raw),
    }
}

impl Value {
    /// The type OID this value encodes as: [`oid::UNKNOWN`] for `Null` (let the server infer
    /// it), the array type of `element_oid` for an `Array` (0, "unspecified", when that element
    /// type has no array type known here), and the OID of the column it came from for `Unknown`.
    pub fn oid(&self) -> Oid {
        match self {
            Value::Null => oid::UNKNOWN,
            Value::Bool(_) => oid::BOOL,
            Value::Int2(_) => oid::INT2,
            Value::Int4(_) => oid::INT4,
            Value::Int8(_) => oid::INT8,
            Value::Float4(_) => oid::FLOAT4,
            Value::Float8(_) => oid::FLOAT8,
            Value::Oid(_) => oid::OID,
            Value::Numeric(_) => oid::NUMERIC,
            Value::Text(_) => oid::TEXT,
            Value::Char(_) => oid::CHAR,
            Value::Bytea(_) => oid::BYTEA,
            Value::Uuid(_) => oid::UUID,
            Value::Json(_) => oid::JSON,
            Value::Jsonb(_) => oid::JSONB,
            Value::Date(_) => oid::DATE,
            Value::Time(_) => oid::TIME,
            Value::TimeTz(_) => oid::TIMETZ,
            Value::Timestamp(_) => oid::TIMESTAMP,
            Value::TimestampTz(_) => oid::TIMESTAMPTZ,
            Value::Interval(_) => oid::INTERVAL,
            Value::Inet(_) => oid::INET,
            Value::Cidr(_) => oid::CIDR,
            Value::Array(array) => array_oid(array.element_oid).unwrap_or(0),
            Value::Unknown { oid, .. } => *oid,
        }
    }

    /// Appends the Postgres binary `send` format of the value to `buf` (the bytes of a `Bind`
    /// parameter, without the length prefix). `Text` encodes its UTF-8 bytes.
    ///
    /// `Null` has no encoding (send it as a NULL parameter); a `Numeric` that is not a decimal
    /// number, an `Inet` whose netmask is too long for its address, and an `Array` whose dims
    /// do not match its elements are encode errors.
    pub fn encode_binary(&self, buf: &mut BytesMut) -> Result<()> {
        match self {
            Value::Null => {
                return Err(Error::encode(
                    "NULL has no binary encoding: send it as a NULL parameter",
                ));
            }
            Value::Bool(v) => pp::bool_to_sql(*v, buf),
            Value::Int2(v) => pp::int2_to_sql(*v, buf),
            Value::Int4(v) => pp::int4_to_sql(*v, buf),
            Value::Int8(v) => pp::int8_to_sql(*v, buf),
            Value::Float4(v) => pp::float4_to_sql(*v, buf),
            Value::Float8(v) => pp::float8_to_sql(*v, buf),
            Value::Oid(v) => pp::oid_to_sql(*v, buf),
            Value::Numeric(v) => numeric::encode_binary(v, buf)?,
            Value::Text(v) | Value::Json(v) => pp::text_to_sql(v, buf),
            Value::Char(v) => buf.put_u8(*v),
            Value::Bytea(v) => pp::bytea_to_sql(v, buf),
            Value::Uuid(v) => pp::uuid_to_sql(*v, buf),
            Value::Jsonb(v) => {
                buf.put_u8(JSONB_VERSION);
                pp::text_to_sql(v, buf);
            }
            Value::Date(v) => pp::date_to_sql(v.0, buf),
            Value::Time(v) => pp::time_to_sql(v.0, buf),
            Value::TimeTz(v) => v.encode_binary(buf),
            Value::Timestamp(v) | Value::TimestampTz(v) => pp::timestamp_to_sql(v.0, buf),
            Value::Interval(v) => v.encode_binary(buf),
            Value::Inet(v) => network::encode_binary(v, false, buf)?,
            Value::Cidr(v) => network::encode_binary(v, true, buf)?,
            Value::Array(v) => array::encode_binary(v, buf)?,
            Value::Unknown { bytes, .. } => buf.put_slice(bytes),
        }
        Ok(())
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Display for Value {
    /// Prints the value as Postgres 15 outputs it. `Unknown` (a binary value of a type this
    /// module does not know, whose text form it cannot compute) prints its bytes in the `bytea`
    /// hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(v) => f.write_str(if *v { "t" } else { "f" }),
            Value::Int2(v) => write!(f, "{v}"),
            Value::Int4(v) => write!(f, "{v}"),
            Value::Int8(v) => write!(f, "{v}"),
            Value::Float4(v) => float::fmt_f32(*v, f),
            Value::Float8(v) => float::fmt_f64(*v, f),
            Value::Oid(v) => write!(f, "{v}"),
            Value::Numeric(v) | Value::Text(v) | Value::Json(v) | Value::Jsonb(v) => f.write_str(v),
            Value::Char(v) => scalar::fmt_char(*v, f),
            Value::Bytea(v) | Value::Unknown { bytes: v, .. } => scalar::fmt_bytea(v, f),
            Value::Uuid(v) => scalar::fmt_uuid(v, f),
            Value::Date(v) => v.fmt(f),
            Value::Time(v) => v.fmt(f),
            Value::TimeTz(v) => v.fmt(f),
            Value::Timestamp(v) => v.fmt(f),
            Value::TimestampTz(v) => v.fmt_utc(f),
            Value::Interval(v) => v.fmt(f),
            Value::Inet(v) => network::fmt(v, false, f),
            Value::Cidr(v) => network::fmt(v, true, f),
            Value::Array(v) => v.fmt(f),
        }
    }
}

/// A text-format `"char"` value as [`Value::Char`] prints it (without the rest of `Value`'s
/// `Display`, which the wasm's JSON path leaves out).
pub(crate) fn char_text(raw: &[u8]) -> Result<String> {
    struct Char(u8);
    impl fmt::Display for Char {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            scalar::fmt_char(self.0, f)
        }
    }
    Ok(Char(scalar::parse_char(raw)?).to_string())
}

/// The version byte that starts the binary form of `jsonb`.
const JSONB_VERSION: u8 = 1;

fn decode_text(oid: Oid, raw: &[u8]) -> Result<Value> {
    // "char" is a byte, not text: servers before 15 send a high-bit byte unescaped.
    if oid == oid::CHAR {
        return scalar::parse_char(raw).map(Value::Char);
    }
    let text = utf8(raw, oid)?;
    let invalid = || Error::decode(format!("invalid {} value in text format", type_name(oid)));
    let value = match oid {
        oid::BOOL => Value::Bool(scalar::parse_bool(text).ok_or_else(invalid)?),
        oid::INT2 => Value::Int2(text.parse().map_err(|_| invalid())?),
        oid::INT4 => Value::Int4(text.parse().map_err(|_| invalid())?),
        oid::INT8 => Value::Int8(text.parse().map_err(|_| invalid())?),
        oid::OID => Value::Oid(text.parse().map_err(|_| invalid())?),
        oid::FLOAT4 => Value::Float4(float::parse_f32(text).ok_or_else(invalid)?),
        oid::FLOAT8 => Value::Float8(float::parse_f64(text).ok_or_else(invalid)?),
        oid::NUMERIC => Value::Numeric(numeric::parse_text(text)?),
        oid::BYTEA => Value::Bytea(scalar::parse_bytea(text)?),
        oid::UUID => Value::Uuid(scalar::parse_uuid(text).ok_or_else(invalid)?),
        oid::JSON => Value::Json(text.to_owned()),
        oid::JSONB => Value::Jsonb(text.to_owned()),
        oid::DATE => Value::Date(Date::parse(text)?),
        oid::TIME => Value::Time(Time::parse(text)?),
        oid::TIMETZ => Value::TimeTz(TimeTz::parse(text)?),
        oid::TIMESTAMP => Value::Timestamp(Timestamp::parse(text)?),
        oid::TIMESTAMPTZ => Value::TimestampTz(Timestamp::parse_tz(text)?),
        oid::INTERVAL => Value::Interval(Interval::parse(text)?),
        oid::INET => Value::Inet(network::parse(text, false)?),
        oid::CIDR => Value::Cidr(network::parse(text, true)?),
        _ => Value::Text(text.to_owned()),
    };
    Ok(value)
}

fn decode_binary(oid: Oid, raw: &[u8]) -> Result<Value> {
    let invalid = |e: Box<dyn std::error::Error + Sync + Send>| {
        Error::decode(format!(
            "invalid {} value in binary format: {e}",
            type_name(oid)
        ))
    };
    let value = match oid {
        oid::BOOL => Value::Bool(pp::bool_from_sql(raw).map_err(invalid)?),
        oid::INT2 => Value::Int2(pp::int2_from_sql(raw).map_err(invalid)?),
        oid::INT4 => Value::Int4(pp::int4_from_sql(raw).map_err(invalid)?),
        oid::INT8 => Value::Int8(pp::int8_from_sql(raw).map_err(invalid)?),
        oid::OID => Value::Oid(pp::oid_from_sql(raw).map_err(invalid)?),
        oid::FLOAT4 => Value::Float4(pp::float4_from_sql(raw).map_err(invalid)?),
        oid::FLOAT8 => Value::Float8(pp::float8_from_sql(raw).map_err(invalid)?),
        oid::NUMERIC => Value::Numeric(numeric::decode_binary(raw)?),
        oid::CHAR => Value::Char(pp::char_from_sql(raw).map_err(invalid)? as u8),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN => {
            Value::Text(utf8(raw, oid)?.to_owned())
        }
        oid::BYTEA => Value::Bytea(pp::bytea_from_sql(raw).to_vec()),
        oid::UUID => Value::Uuid(pp::uuid_from_sql(raw).map_err(invalid)?),
        oid::JSON => Value::Json(utf8(raw, oid)?.to_owned()),
        oid::JSONB => match raw.split_first() {
            Some((&JSONB_VERSION, text)) => Value::Jsonb(utf8(text, oid)?.to_owned()),
            _ => return Err(invalid("unsupported jsonb version".into())),
        },
        oid::DATE => Value::Date(Date(pp::date_from_sql(raw).map_err(invalid)?)),
        oid::TIME => Value::Time(Time::decode_binary(raw)?),
        oid::TIMETZ => Value::TimeTz(TimeTz::decode_binary(raw)?),
        oid::TIMESTAMP => {
            Value::Timestamp(Timestamp(pp::timestamp_from_sql(raw).map_err(invalid)?))
        }
        oid::TIMESTAMPTZ => {
            Value::TimestampTz(Timestamp(pp::timestamp_from_sql(raw).map_err(invalid)?))
        }
        oid::INTERVAL => Value::Interval(Interval::decode_binary(raw)?),
        oid::INET => Value::Inet(network::decode_binary(raw)?),
        oid::CIDR => Value::Cidr(network::decode_binary(raw)?),
        _ => Value::Unknown {
            oid,
            bytes: raw.to_vec(),
        },
    };
    Ok(value)
}

/// Checks that a value is UTF-8, as every text-format value and every binary string is (the
/// connection's `client_encoding` is UTF8).
fn utf8(raw: &[u8], oid: Oid) -> Result<&str> {
    std::str::from_utf8(raw).map_err(|_| {
        Error::decode(format!(
            "invalid UTF-8 in a {} value: check that client_encoding is UTF8",
            type_name(oid)
        ))
    })
}

/// The SQL name of a type, for error messages.
pub(crate) fn type_name(oid: Oid) -> &'static str {
    match oid {
        oid::BOOL => "bool",
        oid::BYTEA => "bytea",
        oid::CHAR => "\"char\"",
        oid::NAME => "name",
        oid::INT8 => "int8",
        oid::INT2 => "int2",
        oid::INT4 => "int4",
        oid::TEXT => "text",
        oid::OID => "oid",
        oid::JSON => "json",
        oid::FLOAT4 => "float4",
        oid::FLOAT8 => "float8",
        oid::UNKNOWN => "unknown",
        oid::CIDR => "cidr",
        oid::INET => "inet",
        oid::BPCHAR => "bpchar",
        oid::VARCHAR => "varchar",
        oid::DATE => "date",
        oid::TIME => "time",
        oid::TIMESTAMP => "timestamp",
        oid::TIMESTAMPTZ => "timestamptz",
        oid::INTERVAL => "interval",
        oid::TIMETZ => "timetz",
        oid::NUMERIC => "numeric",
        oid::UUID => "uuid",
        oid::JSONB => "jsonb",
        _ if element_oid(oid).is_some() => "array",
        _ => "untyped",
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use bytes::BytesMut;

    use super::fixtures::RECORDED;
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn encode(value: &Value) -> Vec<u8> {
        let mut buf = BytesMut::new();
        value.encode_binary(&mut buf).unwrap();
        buf.to_vec()
    }

    /// Debug output compares floats bit-exactly enough (`NaN` equals `NaN`, `-0.0` does not
    /// equal `0.0`), unlike `PartialEq`.
    fn same(a: &Value, b: &Value) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn recorded_values_agree_in_both_formats() {
        for &(oid, text, binary) in RECORDED {
            let binary = hex(binary);
            let from_binary = decode(oid, Format::Binary, &binary)
                .unwrap_or_else(|e| panic!("oid {oid} binary {text:?}: {e}"));
            let from_text = decode(oid, Format::Text, text.as_bytes())
                .unwrap_or_else(|e| panic!("oid {oid} text {text:?}: {e}"));
            assert_eq!(from_binary.to_string(), text, "oid {oid} from binary");
            assert_eq!(from_text.to_string(), text, "oid {oid} from text");
            assert!(
                same(&from_text, &from_binary),
                "{from_text:?} != {from_binary:?}"
            );
            let oid_back = match oid {
                // These decode to Value::Text, which is sent as text.
                oid::VARCHAR | oid::BPCHAR | oid::NAME => oid::TEXT,
                _ => oid,
            };
            assert_eq!(from_binary.oid(), oid_back, "{text:?}");
            assert_eq!(encode(&from_text), binary, "oid {oid} encode {text:?}");
        }
    }

    #[test]
    fn every_variant_round_trips_through_binary() {
        let values = [
            Value::Bool(true),
            Value::Int2(-7),
            Value::Int4(i32::MIN),
            Value::Int8(i64::MAX),
            Value::Float4(f32::NAN),
            Value::Float8(-0.0),
            Value::Oid(u32::MAX),
            Value::Numeric("-12.3400".into()),
            Value::Text("héllo".into()),
            Value::Char(0xe9),
            Value::Bytea(vec![0, 1, 255]),
            Value::Uuid([7; 16]),
            Value::Json("{\"a\":1}".into()),
            Value::Jsonb("{\"a\": 1}".into()),
            Value::Date(Date::NEG_INFINITY),
            Value::Time(Time(86_400_000_000)),
            Value::TimeTz(TimeTz {
                micros: 1,
                offset_seconds_west: -19_800,
            }),
            Value::Timestamp(Timestamp(-1)),
            Value::TimestampTz(Timestamp::INFINITY),
            Value::Interval(Interval {
                months: -1,
                days: 2,
                micros: -3,
            }),
            Value::Inet(Inet {
                addr: IpAddr::from([10, 1, 2, 3]),
                netmask: 8,
            }),
            Value::Cidr(Inet {
                addr: "2001:db8::".parse().unwrap(),
                netmask: 32,
            }),
            Value::Array(Array {
                element_oid: oid::INT8,
                dims: vec![
                    Dim {
                        len: 2,
                        lower_bound: 0,
                    },
                    Dim {
                        len: 1,
                        lower_bound: -5,
                    },
                ],
                elements: vec![Value::Int8(1), Value::Null],
            }),
            Value::Array(Array::from_elements(
                oid::VARCHAR,
                vec![Value::Text("v".into())],
            )),
            Value::Array(Array::from_elements(oid::UUID, vec![])),
            Value::Unknown {
                oid: 600,
                bytes: vec![1, 2, 3],
            },
        ];
        for value in values {
            let bytes = encode(&value);
            let back = decode(value.oid(), Format::Binary, &bytes).unwrap();
            assert!(same(&back, &value), "{value:?} came back as {back:?}");
            let text = value.to_string();
            if !matches!(value, Value::Unknown { .. }) {
                let back = decode(value.oid(), Format::Text, text.as_bytes()).unwrap();
                assert!(same(&back, &value), "{text:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn null_is_displayed_empty_and_has_no_encoding() {
        assert!(Value::Null.is_null());
        assert!(!Value::Int4(0).is_null());
        assert_eq!(Value::Null.to_string(), "");
        assert_eq!(Value::Null.oid(), oid::UNKNOWN);
        assert!(Value::Null.encode_binary(&mut BytesMut::new()).is_err());
    }

    #[test]
    fn unknown_types_are_text_or_raw_bytes() {
        // point, OID 600.
        let text = decode(600, Format::Text, b"(1,2)").unwrap();
        assert_eq!(text, Value::Text("(1,2)".into()));
        let raw = decode(600, Format::Binary, &[1, 2]).unwrap();
        assert_eq!(
            raw,
            Value::Unknown {
                oid: 600,
                bytes: vec![1, 2]
            }
        );
        assert_eq!(raw.to_string(), "\\x0102");
        assert_eq!(raw.oid(), 600);
        // An array of an unknown type is unknown as a whole (point[] is 1017).
        assert_eq!(
            decode(1017, Format::Text, b"{}").unwrap(),
            Value::Text("{}".into())
        );
        // unknown itself is text in both formats.
        let v = decode(oid::UNKNOWN, Format::Binary, b"lit").unwrap();
        assert_eq!(v, Value::Text("lit".into()));
    }

    #[test]
    fn invalid_utf8_is_a_decode_error() {
        let bad = [b'a', 0xff, b'b'];
        for &(oid, _, _) in RECORDED {
            if oid != oid::CHAR {
                assert!(decode(oid, Format::Text, &bad).is_err(), "oid {oid}");
            }
        }
        for oid in [oid::TEXT, oid::VARCHAR, oid::BPCHAR, oid::NAME, oid::JSON] {
            let err = decode(oid, Format::Binary, &bad).unwrap_err();
            assert_eq!(err.code(), "decode");
        }
        assert!(decode(oid::JSONB, Format::Binary, &[1, 0xff]).is_err());
        assert!(decode(oid::TEXT_ARRAY, Format::Text, b"{\"\xff\"}").is_err());
    }

    #[test]
    fn truncated_and_extended_binary_is_rejected_without_panics() {
        for &(oid, text, binary) in RECORDED {
            let binary = hex(binary);
            let variable = matches!(
                oid,
                oid::TEXT
                    | oid::VARCHAR
                    | oid::BPCHAR
                    | oid::NAME
                    | oid::BYTEA
                    | oid::JSON
                    | oid::JSONB
            );
            for cut in 0..binary.len() {
                let result = decode(oid, Format::Binary, &binary[..cut]);
                if !variable {
                    assert!(
                        result.is_err(),
                        "oid {oid} {text:?} cut at {cut}: {result:?}"
                    );
                }
            }
            let mut longer = binary.clone();
            longer.push(0);
            if !variable {
                assert!(
                    decode(oid, Format::Binary, &longer).is_err(),
                    "oid {oid} {text:?}"
                );
            }
            // Flipping bytes may yield another valid value, but must never panic.
            for i in 0..binary.len() {
                for flip in [0x80, 0xff, 0x01] {
                    let mut changed = binary.clone();
                    changed[i] ^= flip;
                    let _ = decode(oid, Format::Binary, &changed).map(|v| v.to_string());
                }
            }
        }
    }

    #[test]
    fn text_prefixes_never_panic() {
        for &(oid, text, _) in RECORDED {
            for (cut, _) in text.char_indices() {
                let _ = decode(oid, Format::Text, &text.as_bytes()[..cut]).map(|v| v.to_string());
            }
        }
    }

    #[test]
    fn wrong_sizes_of_fixed_types_are_errors() {
        let cases: &[(Oid, usize)] = &[
            (oid::BOOL, 1),
            (oid::INT2, 2),
            (oid::INT4, 4),
            (oid::INT8, 8),
            (oid::OID, 4),
            (oid::FLOAT4, 4),
            (oid::FLOAT8, 8),
            (oid::CHAR, 1),
            (oid::UUID, 16),
            (oid::DATE, 4),
            (oid::TIME, 8),
            (oid::TIMETZ, 12),
            (oid::TIMESTAMP, 8),
            (oid::TIMESTAMPTZ, 8),
            (oid::INTERVAL, 16),
        ];
        for &(oid, size) in cases {
            assert!(decode(oid, Format::Binary, &vec![0; size]).is_ok(), "{oid}");
            assert!(
                decode(oid, Format::Binary, &vec![0; size - 1]).is_err(),
                "{oid}"
            );
            assert!(
                decode(oid, Format::Binary, &vec![0; size + 1]).is_err(),
                "{oid}"
            );
        }
        assert!(decode(oid::JSONB, Format::Binary, b"").is_err());
        assert!(decode(oid::JSONB, Format::Binary, b"\x02{}").is_err());
    }

    #[test]
    fn integer_text_bounds() {
        assert_eq!(
            decode(oid::INT2, Format::Text, b"-32768").unwrap(),
            Value::Int2(i16::MIN)
        );
        assert!(decode(oid::INT2, Format::Text, b"32768").is_err());
        assert!(decode(oid::INT4, Format::Text, b"2147483648").is_err());
        assert!(decode(oid::INT8, Format::Text, b"9223372036854775808").is_err());
        assert!(decode(oid::OID, Format::Text, b"-1").is_err());
        assert!(decode(oid::INT4, Format::Text, b" 1").is_err());
        assert!(decode(oid::INT4, Format::Text, b"").is_err());
    }
}
