//! Parsing the `{…}` text form of arrays, following `array_in`: an optional `[l:u]…=` bounds
//! prefix, nested braces that must form a rectangle of at most six dimensions, elements quoted
//! or bare with backslash escapes, surrounding whitespace dropped, and a bare `NULL` for NULL.
//! The delimiter is `,`, as for every type edgepg decodes.

use super::array::{Array, Dim, MAXDIM, is_space};
use super::{Format, Oid, Value, decode};
use crate::error::{Error, Result};

/// Parses the `{…}` text form (with an optional `[l:u]…=` prefix) of an array whose elements
/// are `element_oid`.
pub(super) fn decode_text(element_oid: Oid, text: &str) -> Result<Array> {
    let literal = parse_literal(text)
        .ok_or_else(|| Error::decode("malformed array literal in text format"))?;
    let elements = literal
        .elements
        .into_iter()
        .map(|element| match element {
            None => Ok(Value::Null),
            Some(text) => decode(element_oid, Format::Text, text.as_bytes()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Array {
        element_oid,
        dims: literal.dims,
        elements,
    })
}

/// A parsed array literal: its dims and its elements' text (`None` for NULL).
pub(crate) struct Literal {
    pub(crate) dims: Vec<Dim>,
    pub(crate) elements: Vec<Option<String>>,
}

/// Parses the `{…}` text form (with an optional `[l:u]…=` prefix) into dims and the elements'
/// unquoted, unescaped text; `None` if malformed.
pub(crate) fn parse_literal(text: &str) -> Option<Literal> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let explicit = parser.bounds()?;
    parser.skip_space();
    if !parser.eat(b'{') {
        return None;
    }
    let mut shape = Shape::default();
    let mut elements = Vec::new();
    parser.level(0, &mut shape, &mut elements)?;
    parser.skip_space();
    if parser.pos != parser.bytes.len() {
        return None;
    }
    if elements.is_empty() {
        // `{}`; Postgres rejects explicit bounds on it.
        return explicit.is_none().then_some(Literal {
            dims: Vec::new(),
            elements,
        });
    }
    let lens: Vec<usize> = shape
        .lens
        .get(..shape.ndim?)?
        .iter()
        .copied()
        .collect::<Option<_>>()?;
    let dims = match explicit {
        Some(bounds) => {
            let matches = bounds.len() == lens.len()
                && bounds
                    .iter()
                    .zip(&lens)
                    .all(|(dim, &len)| usize::try_from(dim.len) == Ok(len));
            matches.then_some(bounds)?
        }
        None => lens
            .iter()
            .map(|&len| {
                Some(Dim {
                    len: i32::try_from(len).ok()?,
                    lower_bound: 1,
                })
            })
            .collect::<Option<_>>()?,
    };
    Some(Literal { dims, elements })
}

/// The shape found so far: how deep elements sit, and the item count of each level.
#[derive(Default)]
struct Shape {
    ndim: Option<usize>,
    lens: [Option<usize>; MAXDIM],
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// Parses an optional `[l:u][l:u]=` (or `[u]`, lower bound 1) prefix.
    fn bounds(&mut self) -> Option<Option<Vec<Dim>>> {
        self.skip_space();
        if self.peek() != Some(b'[') {
            return Some(None);
        }
        let mut dims = Vec::new();
        while self.eat(b'[') {
            let first = self.integer()?;
            let (lower, upper) = match self.eat(b':') {
                true => (first, self.integer()?),
                false => (1, first),
            };
            if !self.eat(b']') || upper < lower || dims.len() == MAXDIM {
                return None;
            }
            let len = i32::try_from(i64::from(upper) - i64::from(lower) + 1).ok()?;
            lower.checked_add(len)?;
            dims.push(Dim {
                len,
                lower_bound: lower,
            });
            self.skip_space();
        }
        self.eat(b'=').then_some(Some(dims))
    }

    fn integer(&mut self) -> Option<i32> {
        self.skip_space();
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let number = std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?;
        let value = number.parse().ok();
        self.skip_space();
        value
    }

    /// Parses the items of one level, after its `{`, through its `}`.
    fn level(
        &mut self,
        depth: usize,
        shape: &mut Shape,
        elements: &mut Vec<Option<String>>,
    ) -> Option<()> {
        self.skip_space();
        if self.eat(b'}') {
            // Only the whole array may be empty: `{{}}` is malformed.
            return (depth == 0).then_some(());
        }
        let mut count = 0usize;
        loop {
            self.skip_space();
            if self.eat(b'{') {
                // A sub-array: elements must sit deeper than here.
                if depth + 1 >= MAXDIM || shape.ndim.is_some_and(|ndim| ndim <= depth + 1) {
                    return None;
                }
                self.level(depth + 1, shape, elements)?;
            } else {
                // An element: all elements sit at the same depth.
                if *shape.ndim.get_or_insert(depth + 1) != depth + 1 {
                    return None;
                }
                elements.push(self.element()?);
            }
            count += 1;
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        let len = shape.lens.get_mut(depth)?;
        if *len.get_or_insert(count) != count {
            // Sub-arrays of one level must have matching lengths.
            return None;
        }
        Some(())
    }

    /// Parses one element: `"quoted"` with backslash escapes, or unquoted text up to the next
    /// `,` or `}` with escapes allowed and surrounding whitespace dropped. An unquoted `NULL`
    /// (any case, no escapes) is `None`.
    fn element(&mut self) -> Option<Option<String>> {
        let mut out = Vec::new();
        if self.eat(b'"') {
            loop {
                match self.next()? {
                    b'"' => break,
                    b'\\' => out.push(self.next()?),
                    byte => out.push(byte),
                }
            }
            // Escapes drop ASCII backslashes only, so valid UTF-8 stays valid.
            return String::from_utf8(out).ok().map(Some);
        }
        let (mut kept, mut escaped) = (0, false);
        loop {
            match self.peek()? {
                b',' | b'}' => break,
                b'{' | b'"' => return None,
                b'\\' => {
                    self.pos += 1;
                    out.push(self.next()?);
                    kept = out.len();
                    escaped = true;
                }
                byte => {
                    self.pos += 1;
                    out.push(byte);
                    if !is_space(byte) {
                        kept = out.len();
                    }
                }
            }
        }
        out.truncate(kept);
        if out.is_empty() {
            return None;
        }
        if !escaped && out.eq_ignore_ascii_case(b"NULL") {
            return Some(None);
        }
        String::from_utf8(out).ok().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::super::array::test_support::{dims, text, texts};
    use super::super::{Format, Value, decode, oid};

    #[test]
    fn text_elements_unquote_unescape_and_trim() {
        let array = text(
            oid::TEXT_ARRAY,
            r#"{ a , "b" ,  c d  , "" ,"x\"y", e\,f , g\ }"#,
        );
        let want = [
            Some("a"),
            Some("b"),
            Some("c d"),
            Some(""),
            Some("x\"y"),
            Some("e,f"),
            Some("g "),
        ];
        assert_eq!(array.elements, texts(&want));
        assert_eq!(array.dims, dims(&[(7, 1)]));
        assert_eq!(array.to_string(), r#"{a,b,"c d","","x\"y","e,f","g "}"#);
    }

    #[test]
    fn null_spellings() {
        let array = text(oid::TEXT_ARRAY, r#"{NULL, null,"NULL",\\N,N\ULL,\N,nul}"#);
        let want = [
            None,
            None,
            Some("NULL"),
            Some("\\N"),
            Some("NULL"),
            Some("N"),
            Some("nul"),
        ];
        assert_eq!(array.elements, texts(&want));
        assert_eq!(
            array.to_string(),
            r#"{NULL,NULL,"NULL","\\N","NULL",N,nul}"#
        );
    }

    #[test]
    fn dimensions_and_bounds() {
        let array = text(oid::INT4_ARRAY, "[1:2]={1,2}");
        assert_eq!(array.to_string(), "{1,2}");
        let array = text(oid::INT4_ARRAY, "[3]={1,2,3}");
        assert_eq!(array.dims, dims(&[(3, 1)]));
        let array = text(oid::INT4_ARRAY, " [ -1 : 0 ] [1:1] = { {1} , {2} } ");
        assert_eq!(array.dims, dims(&[(2, -1), (1, 1)]));
        assert_eq!(array.to_string(), "[-1:0][1:1]={{1},{2}}");
        let empty = text(oid::INT4_ARRAY, "{ }");
        assert_eq!(empty.dims, vec![]);
        assert_eq!(empty.to_string(), "{}");
        let nulls = text(oid::INT4_ARRAY, "{{NULL,1},{2,NULL}}");
        assert_eq!(nulls.elements[0], Value::Null);
        assert_eq!(nulls.to_string(), "{{NULL,1},{2,NULL}}");
    }

    #[test]
    fn elements_of_other_types_are_quoted_when_their_text_needs_it() {
        let array = text(
            oid::TIMESTAMPTZ_ARRAY,
            r#"{"2024-01-02 03:04:05+00",infinity}"#,
        );
        assert_eq!(array.to_string(), r#"{"2024-01-02 03:04:05+00",infinity}"#);
        let array = text(oid::BYTEA_ARRAY, r#"{"\\x0aff"}"#);
        assert_eq!(array.elements, vec![Value::Bytea(vec![0x0a, 0xff])]);
        let array = text(oid::JSONB_ARRAY, r#"{"{\"a\": [1, 2]}",null}"#);
        assert_eq!(array.elements[0], Value::Jsonb(r#"{"a": [1, 2]}"#.into()));
        assert_eq!(array.elements[1], Value::Null);
    }

    #[test]
    fn malformed_text_arrays_are_errors() {
        for bad in [
            "",
            "{",
            "}",
            "{1",
            "1,2}",
            "{1,}",
            "{,1}",
            "{1,,2}",
            "{1}x",
            "{{1,2},{3}}",
            "{1,{2}}",
            "{{1},2}",
            "{{}}",
            "{{1},{}}",
            r#"{"a"b}"#,
            r#"{a"b"c}"#,
            r#"{"abc}"#,
            "{a\\}",
            "[1:3]={1,2}",
            "[1:2][1:1]={1,2}",
            "[2:1]={}",
            "[1:1]={}",
            "[1:2]{1,2}",
            "[1:2=]{1,2}",
            "{{{{{{{1}}}}}}}",
            "[1:1][1:1][1:1][1:1][1:1][1:1][1:1]={{{{{{{1}}}}}}}",
            "[2147483647:2147483647]={1}",
            "{1,x}",
            "{{1,2},{3,4}",
        ] {
            assert!(
                decode(oid::INT4_ARRAY, Format::Text, bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(decode(oid::INT4_ARRAY, Format::Text, b"{{{{{{1}}}}}}").is_ok());
    }
}
