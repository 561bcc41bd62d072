//! Values across the JS boundary.
//!
//! **Rows out, in bulk.** A result crosses as JSON text (its fields, command, row count and
//! rows as arrays or objects; see `crate::json` for the values), so it costs one boundary
//! crossing and one `JSON.parse` (native speed) per part instead of a call per field.
//!
//! **Parameters in.** Strings, numbers, bigints, booleans, Dates, arrays and plain objects
//! become untyped text parameters (the server infers their type from the query, as with
//! `pg`); `Uint8Array` becomes a binary `bytea`; `null`/`undefined` become NULL.

use std::cell::RefCell;
use std::fmt::Write;

use bytes::Bytes;
use js_sys::{Array, Date, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::driver::RowSink;
use crate::error::{Error, Result};
use crate::json::{emit_raw, json_string, kind_of, push_int, push_json_string};
use crate::proto::types::{Format, oid};
use crate::proto::{Column, Param, QueryResult, Row};

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

/// Rows cross in parts of about this much JSON text: a large result never exists as one text
/// in wasm memory (which never shrinks) nor in the JS heap.
const PART_BYTES: usize = 256 * 1024;

/// Turns a large result's rows into parsed JS arrays while they arrive (a [`RowSink`]): the
/// wasm then holds at most one part of raw rows, and the conversion overlaps the transfer.
pub(crate) struct PartsSink {
    array_mode: bool,
    /// Per statement (by position in its request): the parsed parts, in order.
    parts: RefCell<Vec<Vec<JsValue>>>,
    error: RefCell<Option<Error>>,
}

impl PartsSink {
    pub(crate) fn new(array_mode: bool) -> PartsSink {
        PartsSink {
            array_mode,
            parts: RefCell::new(Vec::new()),
            error: RefCell::new(None),
        }
    }

    /// Statement `statement`'s result as [`result_to_js`] returns it, with the parts that
    /// arrived earlier in front; a conversion error of an earlier part comes back here.
    pub(crate) fn finish(&self, statement: usize, result: &QueryResult) -> Result<JsValue> {
        if let Some(e) = self.error.borrow_mut().take() {
            return Err(e);
        }
        let earlier = self
            .parts
            .borrow_mut()
            .get_mut(statement)
            .map(std::mem::take)
            .unwrap_or_default();
        result_to_js(result, self.array_mode, earlier)
    }
}

impl RowSink for PartsSink {
    fn part_bytes(&self) -> usize {
        PART_BYTES
    }

    fn rows(&self, _request: usize, statement: usize, columns: &[Column], rows: Vec<Row>) {
        // One user request runs at a time here (a transaction's BEGIN returns no rows), so
        // the statement's position identifies the result.
        if self.error.borrow().is_some() {
            return;
        }
        let names = column_names(columns);
        let mut parsed = Vec::new();
        let tail = rows_json(&rows, columns, &names, self.array_mode, &mut parsed);
        drop(rows);
        match tail.and_then(|text| parse_part(&text)) {
            Ok(last) => {
                parsed.push(last);
                let mut parts = self.parts.borrow_mut();
                if parts.len() <= statement {
                    parts.resize_with(statement + 1, Vec::new);
                }
                parts[statement].extend(parsed);
            }
            Err(e) => *self.error.borrow_mut() = Some(e),
        }
    }
}

/// Converts one result for the TS layer: its fields as a JSON line,
/// `[{name,dataTypeID,tableID,columnID,kind}]`, then `{"command":…,"rowCount":…,"rows":[…]}`
/// (JSON text never holds a raw newline).
/// Everything crosses the boundary as text parsed natively by `JSON.parse`, never a
/// `Reflect::set` per field. With `earlier` parts, or rows beyond [`PART_BYTES`] of JSON, it
/// comes back as an array `[text, part, part, …]`: each part the already parsed array of a run
/// of leading rows, the text holding the fields and the last rows.
pub(crate) fn result_to_js(
    result: &QueryResult,
    array_mode: bool,
    earlier: Vec<JsValue>,
) -> Result<JsValue> {
    let names = column_names(&result.columns);
    let mut parts = earlier;
    let rows = rows_json(
        &result.rows,
        &result.columns,
        &names,
        array_mode,
        &mut parts,
    )?;
    let mut json = String::with_capacity(rows.len() + 96 * result.columns.len() + 64);
    json.push('[');
    for (i, c) in result.columns.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"name\":");
        json.push_str(&names[i]);
        json.push_str(",\"dataTypeID\":");
        push_int(&mut json, i64::from(c.type_oid));
        json.push_str(",\"tableID\":");
        push_int(&mut json, i64::from(c.table_oid));
        json.push_str(",\"columnID\":");
        push_int(&mut json, i64::from(c.column_id));
        json.push_str(",\"kind\":");
        push_int(&mut json, kind_of(c.type_oid) as i64);
        json.push('}');
    }
    // The fields on a line of their own: the TS layer parses each distinct line once.
    json.push_str("]\n{\"command\":");
    push_json_string(&mut json, result.command.split(' ').next().unwrap_or(""));
    json.push_str(",\"rowCount\":");
    match result.rows_affected {
        Some(n) => push_int(&mut json, i64::try_from(n).unwrap_or(i64::MAX)),
        None => json.push_str("null"),
    }
    json.push_str(",\"rows\":");
    json.push_str(&rows);
    drop(rows);
    json.push('}');
    let text = JsValue::from_str(&json);
    if parts.is_empty() {
        return Ok(text);
    }
    let out = Array::new_with_length(parts.len() as u32 + 1);
    out.set(0, text);
    for (i, part) in parts.into_iter().enumerate() {
        out.set(i as u32 + 1, part);
    }
    Ok(out.into())
}

/// `rows` as JSON arrays of about [`PART_BYTES`] of text each: every full one parsed into
/// `parts`, the last returned as text (`[…]`).
fn rows_json(
    rows: &[Row],
    columns: &[Column],
    names: &[String],
    array_mode: bool,
    parts: &mut Vec<JsValue>,
) -> Result<String> {
    let keys: usize = if array_mode {
        0
    } else {
        names.iter().map(|n| n.len() + 1).sum()
    };
    let per_row = keys + 4 * columns.len() + 2;
    let estimate: usize = rows.iter().map(|r| r.byte_len() + per_row).sum::<usize>() + 2;
    let mut text = String::with_capacity(estimate.min(PART_BYTES + PART_BYTES / 4));
    text.push('[');
    for row in rows {
        if text.len() >= PART_BYTES {
            text.push(']');
            parts.push(parse_part(&text)?);
            text.clear();
            text.push('[');
        }
        if text.len() > 1 {
            text.push(',');
        }
        push_row(&mut text, names, columns, row, array_mode)?;
    }
    text.push(']');
    Ok(text)
}

/// The columns' names as JSON strings (object keys).
fn column_names(columns: &[Column]) -> Vec<String> {
    columns.iter().map(|c| json_string(&c.name)).collect()
}

/// One row as a JSON object (or array, in array mode).
fn push_row(
    out: &mut String,
    names: &[String],
    columns: &[Column],
    row: &Row,
    array_mode: bool,
) -> Result<()> {
    out.push(if array_mode { '[' } else { '{' });
    for (i, (raw, column)) in row.values().zip(columns).enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !array_mode {
            out.push_str(&names[i]);
            out.push(':');
        }
        match raw {
            None => out.push_str("null"),
            Some(raw) => emit_raw(out, column.type_oid, column.format, raw)?,
        }
    }
    out.push(if array_mode { ']' } else { '}' });
    Ok(())
}

/// A JSON array text of rows, parsed by the host.
fn parse_part(text: &str) -> Result<JsValue> {
    js_sys::JSON::parse(text).map_err(|_| Error::decode("a part of the result is not valid JSON"))
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
