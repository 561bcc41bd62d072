//! The JSON text primitives of the result path: integers without `core::fmt`, integer copies
//! and checks, integer arrays copied as JSON arrays, and JSON strings with their escapes.

use crate::proto::types::MAXDIM;

/// Appends bytes the caller checked to be ASCII.
pub(super) fn push_ascii(out: &mut String, ascii: &[u8]) {
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
/// decoration like `[0:1]={…}`, quoting, a malformed text), which goes to the array parser
/// (`Emitter::array`).
pub(super) fn push_int_array(out: &mut String, b: &[u8], range: Range) -> bool {
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
pub(super) type Range = (i64, i64);
pub(super) const INT2: Range = (i16::MIN as i64, i16::MAX as i64);
pub(super) const INT4: Range = (i32::MIN as i64, i32::MAX as i64);
pub(super) const OID: Range = (0, u32::MAX as i64);

/// True when `s` is an integer as Postgres prints one (no `+`, no leading zeros, no `-0`)
/// within `range`: its text is then the JSON of the value.
pub(super) fn is_integer(s: &[u8], (min, max): Range) -> bool {
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
pub(super) fn is_json_number(s: &[u8]) -> bool {
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
}
