//! Arrays: the value, its printed `{…}` form with Postgres' quoting rules, and the binary form
//! through `postgres_protocol::types::array_{from,to}_sql`. Parsing the text form is in
//! `array_literal.rs`.
//!
//! An array is stored flat: `dims` gives the shape (outermost first) and `elements` the values
//! in row-major order. Postgres arrays are rectangular, have at most six dimensions, and an
//! empty array has no dimensions at all (`{}`); decoding normalizes to that, as Postgres does.

use std::error::Error as StdError;
use std::fmt::{self, Write};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::IsNull;
use postgres_protocol::types::{self as pp, ArrayDimension};

use super::{Format, Oid, Value, decode, oid};
use crate::error::{Error, Result};

/// An array value.
///
/// `Display` prints Postgres' `{…}` form: `{1,2,NULL}`, `{{1,2},{3,4}}`, elements quoted when
/// needed (`{"a b","\"q\"","NULL",""}`) and `[0:1]={1,2}` when a lower bound is not 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The type OID of the elements.
    pub element_oid: Oid,
    /// The dimensions, outermost first; empty for an empty array.
    pub dims: Vec<Dim>,
    /// The elements in row-major order (the last dimension varies fastest); `Value::Null`
    /// for NULL elements.
    pub elements: Vec<Value>,
}

/// One dimension of an [`Array`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dim {
    /// The number of elements along this dimension.
    pub len: i32,
    /// The index of the first element (1 unless the array was built otherwise).
    pub lower_bound: i32,
}

impl Array {
    /// A one-dimensional array with lower bound 1 (or an empty array when `elements` is).
    pub fn from_elements(element_oid: Oid, elements: Vec<Value>) -> Array {
        let dims = match elements.len() {
            0 => Vec::new(),
            // An array longer than i32::MAX cannot be sent; encode_binary reports it.
            len => vec![Dim {
                len: i32::try_from(len).unwrap_or(i32::MAX),
                lower_bound: 1,
            }],
        };
        Array {
            element_oid,
            dims,
            elements,
        }
    }
}

impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.elements.is_empty() {
            return f.write_str("{}");
        }
        let Some(lens) = self.shape() else {
            // Dims that do not describe the elements: show them flat rather than fail.
            return fmt_nested(&[self.elements.len()], &self.elements, f);
        };
        if self.dims.iter().any(|dim| dim.lower_bound != 1) {
            for dim in &self.dims {
                let upper = i64::from(dim.lower_bound) + i64::from(dim.len) - 1;
                write!(f, "[{}:{upper}]", dim.lower_bound)?;
            }
            f.write_char('=')?;
        }
        fmt_nested(&lens, &self.elements, f)
    }
}

/// Decodes the binary form of an array whose elements are `element_oid`.
pub(super) fn decode_binary(element_oid: Oid, raw: &[u8]) -> Result<Array> {
    let invalid = |what: &dyn fmt::Display| {
        Error::decode(format!("invalid array value in binary format: {what}"))
    };
    // Bound the dimension count before array_from_sql walks the dimensions.
    let ndim = raw
        .first_chunk::<4>()
        .map(|bytes| i32::from_be_bytes(*bytes))
        .ok_or_else(|| invalid(&"too short"))?;
    if !(0..=MAXDIM as i32).contains(&ndim) {
        return Err(invalid(&"bad dimension count"));
    }
    let array = pp::array_from_sql(raw).map_err(|e| invalid(&e))?;
    if array.element_type() != element_oid {
        return Err(invalid(&format_args!(
            "element type {} where {element_oid} was expected",
            array.element_type()
        )));
    }
    let mut dims = Vec::with_capacity(MAXDIM);
    let mut dimensions = array.dimensions();
    while let Some(dim) = dimensions.next().map_err(|e| invalid(&e))? {
        if dim.lower_bound.checked_add(dim.len).is_none() {
            return Err(invalid(&"array bounds overflow"));
        }
        dims.push(Dim {
            len: dim.len,
            lower_bound: dim.lower_bound,
        });
    }
    // array_from_sql checked the element count; the buffer bounds what is worth reserving.
    let mut elements = Vec::with_capacity(raw.len() / 4);
    let mut values = array.values();
    while let Some(value) = values.next().map_err(|e| invalid(&e))? {
        elements.push(match value {
            None => Value::Null,
            Some(bytes) => decode(element_oid, Format::Binary, bytes)?,
        });
    }
    if elements.is_empty() {
        dims.clear();
    }
    Ok(Array {
        element_oid,
        dims,
        elements,
    })
}

/// Encodes the binary form. The dims must describe the elements exactly, and each non-NULL
/// element must encode as `element_oid` (text elements fit any string type).
pub(super) fn encode_binary(array: &Array, buf: &mut BytesMut) -> Result<()> {
    let consistent = match array.dims.is_empty() {
        true => array.elements.is_empty(),
        false => array.shape().is_some(),
    };
    let bounded = array
        .dims
        .iter()
        .all(|dim| dim.lower_bound.checked_add(dim.len).is_some());
    if !consistent || !bounded {
        return Err(Error::encode(
            "array dims do not match its elements (at most 6 dimensions whose lengths multiply \
             to the element count)",
        ));
    }
    let dims = array.dims.iter().map(|dim| ArrayDimension {
        len: dim.len,
        lower_bound: dim.lower_bound,
    });
    let element_oid = array.element_oid;
    pp::array_to_sql(
        dims,
        element_oid,
        &array.elements,
        |element, buf| match element {
            Value::Null => Ok(IsNull::Yes),
            element if encodes_as(element, element_oid) => {
                element.encode_binary(buf).map_err(Box::new)?;
                Ok(IsNull::No)
            }
            element => Err(format!(
                "an element of type {} does not fit an array of type {element_oid}",
                element.oid()
            )
            .into()),
        },
        buf,
    )
    .map_err(|e: Box<dyn StdError + Sync + Send>| Error::encode(format!("array parameter: {e}")))
}

/// Postgres' MAXDIM.
pub(crate) const MAXDIM: usize = 6;

impl Array {
    /// The dimension lengths, if the dims describe the elements: 1 to 6 of them, none
    /// negative, multiplying to the element count.
    fn shape(&self) -> Option<Vec<usize>> {
        if self.dims.is_empty() || self.dims.len() > MAXDIM {
            return None;
        }
        let lens: Vec<usize> = self
            .dims
            .iter()
            .map(|dim| usize::try_from(dim.len).ok())
            .collect::<Option<_>>()?;
        let count = lens
            .iter()
            .try_fold(1usize, |acc, &len| acc.checked_mul(len))?;
        (count == self.elements.len()).then_some(lens)
    }
}

/// True if `element` can be sent as an element of type `element_oid`.
fn encodes_as(element: &Value, element_oid: Oid) -> bool {
    let text_like = matches!(
        element_oid,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN
    );
    match element {
        Value::Array(_) => false,
        Value::Text(_) => text_like,
        element => element.oid() == element_oid,
    }
}

/// Prints `{…}` levels: `lens` is the shape of `elements`, outermost first.
fn fmt_nested(lens: &[usize], elements: &[Value], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_char('{')?;
    match lens.split_first() {
        Some((&len, inner)) if !inner.is_empty() => {
            let stride = elements.len().checked_div(len).unwrap_or(0).max(1);
            for (i, block) in elements.chunks(stride).enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                fmt_nested(inner, block, f)?;
            }
        }
        _ => {
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                fmt_element(element, f)?;
            }
        }
    }
    f.write_char('}')
}

/// Prints one element as array_out does: `NULL` unquoted for NULL; the element's text quoted
/// (with `"` and `\` escaped) when it is empty, spells `NULL`, or holds `"`, `\`, `{`, `}`,
/// `,` or whitespace.
fn fmt_element(element: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if element.is_null() {
        return f.write_str("NULL");
    }
    let text = element.to_string();
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text
            .bytes()
            .any(|b| matches!(b, b'"' | b'\\' | b'{' | b'}' | b',') || is_space(b));
    if !needs_quotes {
        return f.write_str(&text);
    }
    f.write_char('"')?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// array_isspace: the whitespace array_in skips and array_out quotes.
pub(super) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Helpers shared by the array tests here and in `array_literal`.
#[cfg(test)]
pub(super) mod test_support {
    use super::super::{Format, Value, decode};
    use super::*;

    pub(crate) fn text(array_oid: Oid, literal: &str) -> Array {
        match decode(array_oid, Format::Text, literal.as_bytes()) {
            Ok(Value::Array(array)) => array,
            other => panic!("{literal:?}: {other:?}"),
        }
    }

    pub(crate) fn texts(values: &[Option<&str>]) -> Vec<Value> {
        values
            .iter()
            .map(|v| v.map_or(Value::Null, |s| Value::Text(s.to_owned())))
            .collect()
    }

    pub(crate) fn dims(shape: &[(i32, i32)]) -> Vec<Dim> {
        shape
            .iter()
            .map(|&(len, lower_bound)| Dim { len, lower_bound })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::super::{Format, Value, decode, oid};
    use super::test_support::{dims, text, texts};
    use super::*;

    #[test]
    fn quoting_covers_all_array_whitespace() {
        let elements = texts(&[
            Some("\x0b"),
            Some("\x0c"),
            Some("\r"),
            Some("a\nb"),
            Some("}"),
        ]);
        let array = Array::from_elements(oid::TEXT, elements);
        let shown = array.to_string();
        assert_eq!(shown, "{\"\x0b\",\"\x0c\",\"\r\",\"a\nb\",\"}\"}");
        assert_eq!(text(oid::TEXT_ARRAY, &shown), array);
    }

    fn binary_header(ndim: i32, element_oid: Oid, shape: &[(i32, i32)]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.put_i32(ndim);
        buf.put_i32(0);
        buf.put_u32(element_oid);
        for &(len, lower) in shape {
            buf.put_i32(len);
            buf.put_i32(lower);
        }
        buf
    }

    #[test]
    fn malformed_binary_arrays_are_errors() {
        let mut wrong_type = binary_header(1, oid::INT8, &[(1, 1)]);
        wrong_type.put_i32(8);
        wrong_type.put_i64(1);
        let mut bad_element = binary_header(1, oid::INT4, &[(1, 1)]);
        bad_element.put_i32(3);
        bad_element.put_slice(&[0, 0, 1]);
        let mut trailing = binary_header(1, oid::INT4, &[(1, 1)]);
        trailing.put_i32(4);
        trailing.put_i32(1);
        trailing.put_u8(0);
        let mut short = binary_header(1, oid::INT4, &[(2, 1)]);
        short.put_i32(4);
        short.put_i32(1);
        let mut overflow = binary_header(1, oid::INT4, &[(2, i32::MAX)]);
        for _ in 0..2 {
            overflow.put_i32(-1);
        }
        let mut huge = binary_header(2, oid::INT4, &[(i32::MAX, 1), (i32::MAX, 1)]);
        huge.put_i32(-1);
        for bad in [
            wrong_type,
            bad_element,
            trailing,
            short,
            overflow,
            huge,
            binary_header(7, oid::INT4, &[(1, 1); 7]),
            binary_header(-1, oid::INT4, &[]),
            binary_header(1, oid::INT4, &[(-1, 1)]),
            binary_header(2, oid::INT4, &[(1, 1)]),
            BytesMut::from(&[0u8, 0, 0][..]),
        ] {
            let result = decode(oid::INT4_ARRAY, Format::Binary, &bad);
            assert!(result.is_err(), "{bad:?}: {result:?}");
        }
        // A zero-length dimension is the empty array, as in Postgres.
        let empty = binary_header(2, oid::INT4, &[(0, 1), (3, 1)]);
        let array = text(oid::INT4_ARRAY, "{}");
        assert_eq!(
            decode(oid::INT4_ARRAY, Format::Binary, &empty).unwrap(),
            Value::Array(array)
        );
    }

    #[test]
    fn inconsistent_arrays_fail_to_encode_but_still_print() {
        let cases = [
            Array {
                element_oid: oid::INT4,
                dims: dims(&[(3, 1)]),
                elements: vec![Value::Int4(1), Value::Int4(2)],
            },
            Array {
                element_oid: oid::INT4,
                dims: vec![],
                elements: vec![Value::Int4(1)],
            },
            Array {
                element_oid: oid::INT4,
                dims: dims(&[(1, 1); 7]),
                elements: vec![Value::Int4(1)],
            },
            Array {
                element_oid: oid::INT4,
                dims: dims(&[(-1, 1)]),
                elements: vec![Value::Int4(1)],
            },
            Array {
                element_oid: oid::INT4,
                dims: dims(&[(1, i32::MAX)]),
                elements: vec![Value::Int4(1)],
            },
            Array::from_elements(oid::INT8, vec![Value::Int4(1)]),
            Array::from_elements(
                oid::INT4,
                vec![Value::Array(Array::from_elements(oid::INT4, vec![]))],
            ),
            Array::from_elements(oid::INT4, vec![Value::Numeric("x".into())]),
        ];
        for array in cases {
            let _ = array.to_string();
            let result = Value::Array(array.clone()).encode_binary(&mut BytesMut::new());
            assert!(result.is_err(), "{array:?}");
        }
        let flat = Array {
            element_oid: oid::INT4,
            dims: dims(&[(3, 1)]),
            elements: vec![Value::Int4(1), Value::Int4(2)],
        };
        assert_eq!(flat.to_string(), "{1,2}");
        assert_eq!(
            Array::from_elements(oid::INT4, vec![Value::Int4(1), Value::Null]).to_string(),
            "{1,NULL}"
        );
    }
}
