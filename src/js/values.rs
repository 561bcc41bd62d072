//! Values across the JS boundary.
//!
//! **Rows out, in bulk.** Rows cross in parts, each one JSON text of values (see `crate::json`)
//! and a buffer of its `bytea` bytes, so a part costs one boundary crossing and one
//! `JSON.parse` (native speed) instead of a call per field; the TS layer makes the rows.
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
use crate::json::{Emitter, kind_of, push_int, push_json_string};
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

/// Makes JS rows of a result's rows while they arrive (a [`RowSink`]): the wasm then holds at
/// most one part of raw rows, and the conversion overlaps the transfer.
pub(crate) struct PartsSink {
    array_mode: bool,
    /// The TS layer's `buildRows(fields, text, bytes, arrayMode)` (js/src/results.ts).
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

    /// Statement `statement`'s result as [`result_to_js`] makes it, with the parts that
    /// arrived earlier in front; a conversion error of an earlier part comes back here.
    pub(crate) fn finish(&self, statement: usize, result: &QueryResult) -> Result<JsValue> {
        if let Some(e) = self.error.borrow_mut().take() {
            return Err(e);
        }
        let mut parts = self
            .parts
            .borrow_mut()
            .get_mut(statement)
            .map(std::mem::take)
            .unwrap_or_default();
        let fields = fields_line(&result.columns);
        let builder = self.builder(&fields);
        let (last, bytes) = builder.write(&result.rows, &result.columns, &mut parts)?;
        // A small result (the common case) crosses as one text: no builder call.
        let inline = parts.is_empty() && bytes.is_empty() && !last.is_empty();
        if !inline && !last.is_empty() {
            parts.push(builder.part(&last, &bytes)?);
        }
        Ok(result_to_js(
            result,
            &fields,
            inline.then_some(&*last),
            parts,
        ))
    }

    fn builder<'a>(&'a self, fields: &'a str) -> Builder<'a> {
        Builder {
            fields,
            array_mode: self.array_mode,
            build: &self.build,
        }
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
        let mut built = Vec::new();
        match self.builder(&fields).all(&rows, columns, &mut built) {
            Ok(()) => {
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

/// Makes JS rows of rows: the TS layer's builder, given the result's fields line.
struct Builder<'a> {
    fields: &'a str,
    array_mode: bool,
    build: &'a Function,
}

impl Builder<'_> {
    /// Writes `rows` as parts of about [`PART_BYTES`] of JSON each: every full one made into JS
    /// rows in `parts`, the last returned unmade (its text and bytes; an empty text if no rows
    /// are left). A part is one JSON array of all its rows' values in order, then the row count
    /// (`[1,"a",2,"b",2]`: no array per row to parse), with the bytes of its `bytea` values.
    fn write(
        &self,
        rows: &[Row],
        columns: &[Column],
        parts: &mut Vec<JsValue>,
    ) -> Result<(String, Vec<u8>)> {
        let per_row = 4 * columns.len() + 2;
        let estimate: usize = rows.iter().map(|r| r.byte_len() + per_row).sum::<usize>() + 2;
        let mut text = String::with_capacity(estimate.min(PART_BYTES + PART_BYTES / 4));
        let mut bytes = Vec::new();
        let emitters: Vec<Emitter> = columns
            .iter()
            .map(|c| Emitter::new(c.type_oid, c.format))
            .collect();
        let mut count = 0;
        for row in rows {
            if count == 0 {
                text.push('[');
            }
            for (raw, emitter) in row.values().zip(&emitters) {
                match raw {
                    None => text.push_str("null"),
                    Some(raw) => emitter.emit(&mut text, &mut bytes, raw)?,
                }
                text.push(',');
            }
            count += 1;
            if text.len() >= PART_BYTES {
                push_int(&mut text, count);
                text.push(']');
                parts.push(self.part(&text, &bytes)?);
                text.clear();
                bytes.clear();
                count = 0;
            }
        }
        if count > 0 {
            push_int(&mut text, count);
            text.push(']');
        }
        Ok((text, bytes))
    }

    /// Every row of `rows` made into JS rows in `parts`, the last part too.
    fn all(&self, rows: &[Row], columns: &[Column], parts: &mut Vec<JsValue>) -> Result<()> {
        let (last, bytes) = self.write(rows, columns, parts)?;
        if !last.is_empty() {
            parts.push(self.part(&last, &bytes)?);
        }
        Ok(())
    }

    fn part(&self, text: &str, bytes: &[u8]) -> Result<JsValue> {
        let bytes = match bytes.is_empty() {
            true => JsValue::UNDEFINED,
            // A copy: the runtime never gets a view into wasm memory.
            false => Uint8Array::from(bytes).into(),
        };
        self.build
            .call4(
                &JsValue::UNDEFINED,
                &JsValue::from_str(self.fields),
                &JsValue::from_str(text),
                &bytes,
                &JsValue::from_bool(self.array_mode),
            )
            .map_err(|_| Error::decode("a part of the result could not be made into rows"))
    }
}

/// One result for the TS layer: `[head, part, …]`, the head its fields line (see
/// [`fields_line`]) and `{"command":…,"rowCount":…}` (JSON text never holds a raw newline),
/// each part an array of rows from the builder. A small result's values are in the head
/// instead (`"values":[…]`, a part's text), and there are no parts.
fn result_to_js(
    result: &QueryResult,
    fields: &str,
    values: Option<&str>,
    parts: Vec<JsValue>,
) -> JsValue {
    let mut head = String::with_capacity(fields.len() + 64 + values.map_or(0, str::len));
    head.push_str(fields);
    head.push_str("\n{\"command\":");
    push_json_string(&mut head, result.command.split(' ').next().unwrap_or(""));
    head.push_str(",\"rowCount\":");
    match result.rows_affected {
        Some(n) => push_int(&mut head, i64::try_from(n).unwrap_or(i64::MAX)),
        None => head.push_str("null"),
    }
    if let Some(values) = values {
        head.push_str(",\"values\":");
        head.push_str(values);
    }
    head.push('}');
    let out = Array::new_with_length(parts.len() as u32 + 1);
    out.set(0, JsValue::from_str(&head));
    for (i, part) in parts.into_iter().enumerate() {
        out.set(i as u32 + 1, part);
    }
    out.into()
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
        } else if n == 0.0 && n.is_sign_negative() {
            "-0".into()
        } else {
            // JS's own spelling (`String(n)`, as `pg` sends numbers; but `-0` above keeps its
            // sign): the shortest round-trip digits, which Postgres reads (`1e+21`, `1e-7`).
            js_sys::Number::from(n)
                .to_string_with_radix(10)
                .map(String::from)
                .map_err(|_| Error::encode("a number could not be written as text"))?
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
