//! Values across the JS boundary.
//!
//! **Rows out, in bulk.** A result crosses as one JSON text (its fields, command, row count and
//! rows as arrays or objects), so the whole result costs one boundary crossing and one `JSON.parse`
//! (native speed) instead of a call per field. Most text-format values are copied straight into
//! the JSON (integers, booleans, `json`/`jsonb`), the rest are decoded first. Values JSON cannot
//! carry exactly are written as strings and converted by the TS layer according to the
//! column's [`ColumnKind`]: `int8` → `bigint`, `timestamptz` → `Date`, `bytea` → `Uint8Array`,
//! non-finite floats → `NaN`/`Infinity`.
//!
//! **Parameters in.** Strings, numbers, bigints, booleans, Dates, arrays and plain objects
//! become untyped text parameters (the server infers their type from the query, as with
//! `pg`); `Uint8Array` becomes a binary `bytea`; `null`/`undefined` become NULL.

use std::fmt::Write;

use bytes::Bytes;
use js_sys::{Array, Date, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, Result};
use crate::proto::types::{Format, Oid, Value, decode, element_oid, oid};
use crate::proto::{Param, QueryResult};

/// How the TS layer finishes a column's JSON values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// As parsed.
    Plain = 0,
    /// Decimal string → `BigInt`.
    BigInt = 1,
    /// Milliseconds since the epoch → `Date` (strings `infinity`/`-infinity` stay).
    Date = 2,
    /// Hex string → `Uint8Array`.
    Bytes = 3,
    /// `"NaN"`, `"Infinity"`, `"-Infinity"` → number.
    Float = 4,
}

/// Converts JS parameters to protocol parameters.
pub(crate) fn params_from_js(values: &Array) -> Result<Vec<Param>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            param(&v).map_err(|e| Error::encode(format!("parameter ${}: {}", i + 1, e.message())))
        })
        .collect()
}

/// Converts one result to one JSON text:
/// `{"fields":[{name,dataTypeID,tableID,columnID,kind}],"command":…,"rowCount":…,"rows":[…]}`.
/// Everything crosses the boundary as this one string (no per-field `Reflect::set`).
pub(crate) fn result_to_js(result: &QueryResult, array_mode: bool) -> Result<JsValue> {
    let names: Vec<String> = result
        .columns
        .iter()
        .map(|c| json_string(&c.name))
        .collect();
    // Sized up front (keys, separators and quotes included): growing a string of tens of MB by
    // doubling would hold two copies at once in wasm memory, which never shrinks.
    let keys: usize = if array_mode {
        0
    } else {
        names.iter().map(|n| n.len() + 1).sum()
    };
    let per_row = keys + 4 * result.columns.len() + 2;
    let mut json = String::with_capacity(
        result
            .rows
            .iter()
            .map(|r| r.byte_len() + per_row)
            .sum::<usize>()
            + 96 * result.columns.len()
            + 64,
    );
    json.push_str("{\"fields\":[");
    for (i, c) in result.columns.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            "{{\"name\":{},\"dataTypeID\":{},\"tableID\":{},\"columnID\":{},\"kind\":{}}}",
            names[i],
            c.type_oid,
            c.table_oid,
            c.column_id,
            kind_of(c.type_oid) as u8
        );
    }
    json.push_str("],\"command\":");
    push_json_string(&mut json, result.command.split(' ').next().unwrap_or(""));
    json.push_str(",\"rowCount\":");
    match result.rows_affected {
        Some(n) => {
            let _ = write!(json, "{n}");
        }
        None => json.push_str("null"),
    }
    json.push_str(",\"rows\":[");
    for (r, row) in result.rows.iter().enumerate() {
        if r > 0 {
            json.push(',');
        }
        json.push(if array_mode { '[' } else { '{' });
        for (i, (raw, column)) in row.values().zip(&result.columns).enumerate() {
            if i > 0 {
                json.push(',');
            }
            if !array_mode {
                json.push_str(&names[i]);
                json.push(':');
            }
            match raw {
                None => json.push_str("null"),
                Some(raw) => emit_raw(&mut json, column.type_oid, column.format, raw)?,
            }
        }
        json.push(if array_mode { ']' } else { '}' });
    }
    json.push_str("]}");
    Ok(JsValue::from_str(&json))
}

fn kind_of(type_oid: Oid) -> ColumnKind {
    match element_oid(type_oid).unwrap_or(type_oid) {
        oid::INT8 => ColumnKind::BigInt,
        oid::TIMESTAMPTZ => ColumnKind::Date,
        oid::BYTEA => ColumnKind::Bytes,
        oid::FLOAT4 | oid::FLOAT8 => ColumnKind::Float,
        _ => ColumnKind::Plain,
    }
}

/// Writes one non-NULL value as JSON, copying text-format bytes where they already are JSON.
fn emit_raw(out: &mut String, type_oid: Oid, format: Format, raw: &[u8]) -> Result<()> {
    if format == Format::Text {
        let text =
            std::str::from_utf8(raw).map_err(|_| Error::decode("the server sent invalid UTF-8"))?;
        match type_oid {
            oid::INT2 | oid::INT4 | oid::OID if is_integer(text) => {
                out.push_str(text);
                return Ok(());
            }
            oid::FLOAT4 | oid::FLOAT8 if is_json_number(text) => {
                out.push_str(text);
                return Ok(());
            }
            oid::BOOL => {
                out.push_str(if text == "t" { "true" } else { "false" });
                return Ok(());
            }
            oid::JSON | oid::JSONB => {
                out.push_str(text);
                return Ok(());
            }
            // bytea_output=hex: the digits after `\x` are already what the TS layer decodes.
            oid::BYTEA
                if text.starts_with("\\x")
                    && text.bytes().skip(2).all(|b| b.is_ascii_hexdigit()) =>
            {
                out.push('"');
                out.push_str(&text[2..]);
                out.push('"');
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
    emit_value(out, &decode(type_oid, format, raw)?);
    Ok(())
}

fn emit_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(v) => push_display(out, v),
        Value::Int4(v) => push_display(out, v),
        Value::Oid(v) => push_display(out, v),
        Value::Float4(v) if v.is_finite() => push_display(out, value),
        Value::Float8(v) if v.is_finite() => push_display(out, value),
        Value::Json(text) | Value::Jsonb(text) => out.push_str(text),
        Value::Bytea(bytes) => push_hex_string(out, bytes),
        Value::Timestamp(_) => push_json_string(out, &value.to_string().replacen(' ', "T", 1)),
        Value::TimestampTz(ts) => match ts.unix_micros() {
            Some(us) => push_display(out, us.div_euclid(1000)),
            None => push_json_string(out, &value.to_string()),
        },
        Value::Array(array) => {
            let lens: Vec<usize> = array.dims.iter().map(|d| d.len.max(0) as usize).collect();
            if lens.is_empty() {
                out.push_str("[]");
            } else {
                let mut at = 0;
                emit_dim(out, &array.elements, &lens, &mut at);
            }
        }
        Value::Unknown { bytes, .. } => push_hex_string(out, bytes),
        // Text-like values, int8 and numeric as strings.
        _ => push_json_string(out, &value.to_string()),
    }
}

fn emit_dim(out: &mut String, elements: &[Value], lens: &[usize], at: &mut usize) {
    out.push('[');
    for i in 0..lens[0] {
        if i > 0 {
            out.push(',');
        }
        if lens.len() > 1 {
            emit_dim(out, elements, &lens[1..], at);
        } else {
            emit_value(out, elements.get(*at).unwrap_or(&Value::Null));
            *at += 1;
        }
    }
    out.push(']');
}

fn param(v: &JsValue) -> Result<Param> {
    if v.is_null() || v.is_undefined() {
        return Ok(Param::untyped(None));
    }
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        return Ok(Param {
            oid: oid::BYTEA,
            format: Format::Binary,
            value: Some(Bytes::from(bytes.to_vec())),
        });
    }
    Ok(Param::untyped(Some(&text_of(v, false)?)))
}

/// The Postgres text input for a JS value (`in_array`: as an array element).
fn text_of(v: &JsValue, in_array: bool) -> Result<String> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    if let Some(b) = v.as_bool() {
        return Ok(if b { "true" } else { "false" }.into());
    }
    if let Some(n) = v.as_f64() {
        return Ok(if n.is_nan() {
            "NaN".into()
        } else if n.is_infinite() {
            if n > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else {
            // Rust prints the shortest round-trip digits, without exponents: Postgres parses it.
            format!("{n}")
        });
    }
    if v.is_bigint() {
        return Ok(String::from(
            js_sys::BigInt::from(v.clone())
                .to_string(10)
                .unwrap_or_else(|_| "0".into()),
        ));
    }
    if let Some(d) = v.dyn_ref::<Date>() {
        if d.get_time().is_nan() {
            return Err(Error::encode("an invalid Date cannot be sent"));
        }
        return Ok(String::from(d.to_iso_string()));
    }
    if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
        let mut s = String::from("\\x");
        for b in bytes.to_vec() {
            let _ = write!(s, "{b:02x}");
        }
        return Ok(s);
    }
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        let mut s = String::from("{");
        for (i, e) in arr.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            if e.is_null() || e.is_undefined() {
                s.push_str("NULL");
            } else if Array::is_array(&e) {
                s.push_str(&text_of(&e, true)?);
            } else {
                let t = text_of(&e, true)?;
                s.push('"');
                for c in t.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
        }
        s.push('}');
        return Ok(s);
    }
    if v.is_object() {
        let _ = in_array;
        return js_sys::JSON::stringify(v)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| Error::encode("the object cannot be serialized to JSON"));
    }
    Err(Error::encode(
        "unsupported parameter type (use string, number, bigint, boolean, Date, Uint8Array, array, object or null)",
    ))
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
    let _ = write!(out, "{v}");
}

fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// True when `s` is already a JSON number (Postgres float output mostly is; NaN/Infinity aren't).
fn is_json_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
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
