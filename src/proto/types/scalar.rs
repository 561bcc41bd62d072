//! Text forms of the small fixed types: `bool`, `"char"`, `bytea` and `uuid`.
//!
//! Their binary forms come from `postgres_protocol::types`.

use std::fmt::{self, Write};

use crate::error::{Error, Result};

/// Parses `bool` output (`t`/`f`; the spelled-out forms are accepted too).
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "t" | "true" => Some(true),
        "f" | "false" => Some(false),
        _ => None,
    }
}

/// Parses `"char"` output: empty for the zero byte, `\ooo` for a byte with the high bit set
/// (Postgres 15 and later), the byte itself otherwise (older servers send high bytes raw).
pub(super) fn parse_char(raw: &[u8]) -> Result<u8> {
    match raw {
        [] => Ok(0),
        [byte] => Ok(*byte),
        [b'\\', a, b, c] if is_octal(*a) && is_octal(*b) && is_octal(*c) => {
            // Like charin, keep the low 8 bits of `\777`.
            Ok(((*a - b'0') << 6)
                .wrapping_add((*b - b'0') << 3)
                .wrapping_add(*c - b'0'))
        }
        _ => Err(Error::decode("invalid \"char\" value in text format")),
    }
}

/// Prints a `"char"` as Postgres 15's charout does.
pub(super) fn fmt_char(byte: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match byte {
        0 => Ok(()),
        0x80.. => write!(f, "\\{byte:03o}"),
        _ => f.write_char(char::from(byte)),
    }
}

/// Parses `bytea` output in the hex format (`\x0aff`) or the legacy escape format
/// (`a\\b\000`).
pub(crate) fn parse_bytea(text: &str) -> Result<Vec<u8>> {
    let invalid = || Error::decode("invalid bytea value in text format");
    if let Some(hex) = text.strip_prefix("\\x") {
        // Like byteain, allow whitespace between (not within) hex pairs.
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut digits = hex.bytes();
        while let Some(high) = digits.next() {
            if matches!(high, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            }
            let low = digits.next().ok_or_else(invalid)?;
            let high = hex_value(high).ok_or_else(invalid)?;
            let low = hex_value(low).ok_or_else(invalid)?;
            out.push(high << 4 | low);
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'\\' {
            out.push(byte);
            rest = tail;
            continue;
        }
        match tail {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [a @ b'0'..=b'3', b, c, tail @ ..] if is_octal(*b) && is_octal(*c) => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                rest = tail;
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

/// Prints bytes in the `bytea` hex format: `\x` and two lowercase digits a byte.
pub(super) fn fmt_bytea(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("\\x")?;
    bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
}

/// Parses `uuid` text: 32 hex digits, either case, optionally in braces, with a hyphen allowed
/// after any group of four digits (what uuid_in accepts).
pub(super) fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = match text.strip_prefix('{') {
        Some(inner) => inner.strip_suffix('}')?,
        None => text,
    };
    let mut out = [0u8; 16];
    let mut digits = 0usize;
    let mut bytes = text.bytes().peekable();
    while let Some(byte) = bytes.next() {
        if byte == b'-' {
            // Not first, not last, not doubled, only after a group of four.
            if digits == 0 || !digits.is_multiple_of(4) || bytes.peek().is_none_or(|&b| b == b'-') {
                return None;
            }
            continue;
        }
        let value = hex_value(byte)?;
        let slot = out.get_mut(digits / 2)?;
        *slot = if digits.is_multiple_of(2) {
            value << 4
        } else {
            *slot | value
        };
        digits += 1;
    }
    (digits == 32).then_some(out)
}

/// Prints a `uuid` lowercase and hyphenated, 8-4-4-4-12.
pub(super) fn fmt_uuid(uuid: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, byte) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_char('-')?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

fn is_octal(byte: u8) -> bool {
    matches!(byte, b'0'..=b'7')
}

/// The value of one hex digit.
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Value, decode, oid};

    fn text(oid: u32, s: &str) -> Value {
        decode(oid, Format::Text, s.as_bytes()).unwrap()
    }

    #[test]
    fn bool_both_formats() {
        assert_eq!(text(oid::BOOL, "t"), Value::Bool(true));
        assert_eq!(text(oid::BOOL, "f"), Value::Bool(false));
        assert_eq!(
            decode(oid::BOOL, Format::Binary, &[1]).unwrap().to_string(),
            "t"
        );
        assert_eq!(
            decode(oid::BOOL, Format::Binary, &[0]).unwrap().to_string(),
            "f"
        );
        assert!(decode(oid::BOOL, Format::Text, b"yes!").is_err());
        assert!(decode(oid::BOOL, Format::Binary, &[]).is_err());
        assert!(decode(oid::BOOL, Format::Binary, &[1, 0]).is_err());
    }

    #[test]
    fn char_follows_postgres_15() {
        assert_eq!(text(oid::CHAR, ""), Value::Char(0));
        assert_eq!(text(oid::CHAR, "a"), Value::Char(b'a'));
        assert_eq!(text(oid::CHAR, "\\351"), Value::Char(0xe9));
        assert_eq!(
            decode(oid::CHAR, Format::Text, &[0xe9]).unwrap(),
            Value::Char(0xe9)
        );
        assert_eq!(Value::Char(0).to_string(), "");
        assert_eq!(Value::Char(0xe9).to_string(), "\\351");
        assert_eq!(Value::Char(b'\\').to_string(), "\\");
        for byte in 0..=255u8 {
            let shown = Value::Char(byte).to_string();
            assert_eq!(text(oid::CHAR, &shown), Value::Char(byte), "{byte}");
        }
        assert_eq!(
            decode(oid::CHAR, Format::Binary, &[0xe9]).unwrap(),
            Value::Char(0xe9)
        );
        assert!(decode(oid::CHAR, Format::Text, b"ab").is_err());
        assert!(decode(oid::CHAR, Format::Binary, &[]).is_err());
    }

    #[test]
    fn bytea_hex_and_escape_formats() {
        let want = Value::Bytea(vec![0x0a, 0xff]);
        assert_eq!(text(oid::BYTEA, "\\x0aff"), want);
        assert_eq!(text(oid::BYTEA, "\\x0AFF"), want);
        assert_eq!(text(oid::BYTEA, "\\x 0a ff"), want);
        assert_eq!(want.to_string(), "\\x0aff");
        assert_eq!(text(oid::BYTEA, "\\x"), Value::Bytea(vec![]));
        assert_eq!(Value::Bytea(vec![]).to_string(), "\\x");
        assert_eq!(
            text(oid::BYTEA, "\\000\\377\\\\A"),
            Value::Bytea(vec![0, 0xff, b'\\', b'A'])
        );
        assert_eq!(text(oid::BYTEA, "a b"), Value::Bytea(b"a b".to_vec()));
        for bad in ["\\x0", "\\x0g", "\\x0 a", "\\q", "\\400", "\\12", "a\\"] {
            assert!(
                decode(oid::BYTEA, Format::Text, bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            decode(oid::BYTEA, Format::Binary, &[0x0a, 0xff]).unwrap(),
            want
        );
    }

    #[test]
    fn uuid_forms() {
        let bytes = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        let shown = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(Value::Uuid(bytes).to_string(), shown);
        for input in [
            shown,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        ] {
            assert_eq!(text(oid::UUID, input), Value::Uuid(bytes), "{input}");
        }
        for bad in [
            "",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ] {
            assert!(
                decode(oid::UUID, Format::Text, bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            decode(oid::UUID, Format::Binary, &bytes).unwrap(),
            Value::Uuid(bytes)
        );
        assert!(decode(oid::UUID, Format::Binary, &bytes[..15]).is_err());
    }
}
