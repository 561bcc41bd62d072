//! Values across the JS boundary.
//!
//! **Rows out, in bulk.** A result crosses as JSON text (its fields, command, row count and
//! rows as arrays of values; see `crate::json` for the values), so it costs one boundary
//! crossing and one `JSON.parse` (native speed) per part instead of a call per field; the TS
//! layer makes object rows of the arrays with a constructor per row shape.
//!
//! **Parameters in.** Strings, numbers, bigints, booleans, Dates, arrays and plain objects
//! become untyped text parameters (the server infers their type from the query, as with
//! `pg`); `Uint8Array` becomes a binary `bytea`; `null`/`undefined` become NULL.

use std::cell::RefCell;
use std::fmt::Write;

use bytes::Bytes;
use js_sys::{Array, Date, Function, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::driver::RowSink;
use crate::error::{Error, Result};
use crate::json::{emit_raw, kind_of, push_int, push_json_string};
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

/// Turns a large result's rows into JS rows while they arrive (a [`RowSink`]): the wasm then
/// holds at most one part of raw rows, and the conversion overlaps the transfer.
pub(crate) struct PartsSink {
    array_mode: bool,
    /// The TS layer's `buildRows(fields, text, arrayMode)` (js/src/results.ts): parses a part's
    /// JSON arrays and makes the rows of it.
    build: Function,
    /// Per statement (by position in its request): the built parts, in order.
    parts: RefCell<Vec<Vec<JsValue>>>,
    error: RefCell<Option<Error>>,
}

impl PartsSink {
    pub(crate) fn new(array_mode: bool, build: Function) -> PartsSink {
        PartsSink {
            array_mode,
            build,
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
        let fields = fields_line(&result.columns);
        let builder = Builder {
            fields: &fields,
            array_mode: self.array_mode,
            build: &self.build,
        };
        result_to_js(result, &builder, earlier)
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
        let fields = fields_line(columns);
        let builder = Builder {
            fields: &fields,
            array_mode: self.array_mode,
            build: &self.build,
        };
        let mut built = Vec::new();
        let tail = rows_json(&rows, columns, &builder, &mut built);
        drop(rows);
        match tail.and_then(|text| builder.rows(&text)) {
            Ok(last) => {
                built.push(last);
                let mut parts = self.parts.borrow_mut();
                if parts.len() <= statement {
                    parts.resize_with(statement + 1, Vec::new);
                }
                parts[statement].extend(built);
            }
            Err(e) => *self.error.borrow_mut() = Some(e),
        }
    }
}

/// Makes JS rows of a part's JSON text: the TS layer's builder, given the result's fields line.
struct Builder<'a> {
    fields: &'a str,
    array_mode: bool,
    build: &'a Function,
}

impl Builder<'_> {
    /// `text` (a JSON array of rows, each an array of values) as an array of JS rows.
    fn rows(&self, text: &str) -> Result<JsValue> {
        self.build
            .call3(
                &JsValue::UNDEFINED,
                &JsValue::from_str(self.fields),
                &JsValue::from_str(text),
                &JsValue::from_bool(self.array_mode),
            )
            .map_err(|_| Error::decode("a part of the result could not be made into rows"))
    }
}

/// Converts one result for the TS layer: its fields line (see [`fields_line`]), then
/// `{"command":…,"rowCount":…,"rows":[…]}` with each row an array of values (JSON text never
/// holds a raw newline). The TS layer makes object rows of the arrays; one `JSON.parse` per
/// text, never a `Reflect::set` per field. With `earlier` parts, or rows beyond [`PART_BYTES`]
/// of JSON, it comes back as an array `[text, part, part, …]`: each part the already built
/// rows of a run of leading rows, the text holding the fields and the last rows.
fn result_to_js(result: &QueryResult, builder: &Builder, earlier: Vec<JsValue>) -> Result<JsValue> {
    let mut parts = earlier;
    let rows = rows_json(&result.rows, &result.columns, builder, &mut parts)?;
    let mut json = String::with_capacity(builder.fields.len() + rows.len() + 64);
    json.push_str(builder.fields);
    json.push_str("\n{\"command\":");
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

/// The columns as one JSON line, `[{name,dataTypeID,tableID,columnID,kind}]`: the TS layer
/// makes each distinct line's row shape once.
fn fields_line(columns: &[Column]) -> String {
    let mut json = String::with_capacity(96 * columns.len() + 2);
    json.push('[');
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"name\":");
        push_json_string(&mut json, &c.name);
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
    json.push(']');
    json
}

/// `rows` as JSON arrays of rows of about [`PART_BYTES`] of text each: every full one made
/// into rows in `parts`, the last returned as text (`[…]`).
fn rows_json(
    rows: &[Row],
    columns: &[Column],
    builder: &Builder,
    parts: &mut Vec<JsValue>,
) -> Result<String> {
    let per_row = 4 * columns.len() + 2;
    let estimate: usize = rows.iter().map(|r| r.byte_len() + per_row).sum::<usize>() + 2;
    let mut text = String::with_capacity(estimate.min(PART_BYTES + PART_BYTES / 4));
    text.push('[');
    for row in rows {
        if text.len() >= PART_BYTES {
            text.push(']');
            parts.push(builder.rows(&text)?);
            text.clear();
            text.push('[');
        }
        if text.len() > 1 {
            text.push(',');
        }
        push_row(&mut text, columns, row)?;
    }
    text.push(']');
    Ok(text)
}

/// One row as a JSON array of its values.
fn push_row(out: &mut String, columns: &[Column], row: &Row) -> Result<()> {
    out.push('[');
    for (i, (raw, column)) in row.values().zip(columns).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match raw {
            None => out.push_str("null"),
            Some(raw) => emit_raw(out, column.type_oid, column.format, raw)?,
        }
    }
    out.push(']');
    Ok(())
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
