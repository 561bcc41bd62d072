//! The JSON path against the decoder, and its behaviour on every kind of text.

use super::*;

use crate::proto::types::{Value, decode};

// The decoder's JSON: a value decoded to a `Value`, then written. This is what the JSON path
// must write for every text Postgres prints (the wasm wrote this until it left the decoders
// out); floats may be spelled differently but must be the same number.
fn emit_value(out: &mut String, bytes: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(v) => push_int(out, i64::from(*v)),
        Value::Int4(v) => push_int(out, i64::from(*v)),
        Value::Oid(v) => push_int(out, i64::from(*v)),
        Value::Float4(v) if v.is_finite() => push_display(out, value),
        Value::Float8(v) if v.is_finite() => push_display(out, value),
        Value::Json(text) | Value::Jsonb(text) => out.push_str(text),
        Value::Bytea(b) => {
            bytes.extend_from_slice(b);
            push_int(out, b.len() as i64);
        }
        Value::Timestamp(_) => push_json_string(out, &value.to_string().replacen(' ', "T", 1)),
        Value::TimestampTz(ts) => match ts.unix_micros() {
            Some(us) => push_int(out, us.div_euclid(1000)),
            None => push_json_string(out, &value.to_string()),
        },
        Value::Array(array) => {
            let lens: Vec<usize> = array.dims.iter().map(|d| d.len.max(0) as usize).collect();
            if lens.is_empty() {
                out.push_str("[]");
            } else {
                let mut at = 0;
                emit_dim(out, bytes, &array.elements, &lens, &mut at);
            }
        }
        Value::Unknown { bytes: b, .. } => push_hex_string(out, b),
        // Text-like values, int8 and numeric as strings.
        _ => push_json_string(out, &value.to_string()),
    }
}

fn emit_dim(
    out: &mut String,
    bytes: &mut Vec<u8>,
    elements: &[Value],
    lens: &[usize],
    at: &mut usize,
) {
    out.push('[');
    for i in 0..lens[0] {
        if i > 0 {
            out.push(',');
        }
        if lens.len() > 1 {
            emit_dim(out, bytes, elements, &lens[1..], at);
        } else {
            emit_value(out, bytes, elements.get(*at).unwrap_or(&Value::Null));
            *at += 1;
        }
    }
    out.push(']');
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
    let _ = std::fmt::Write::write_fmt(out, format_args!("{v}"));
}

fn raw(type_oid: Oid, text: &str) -> String {
    let mut out = String::new();
    Emitter::new(type_oid, Format::Text)
        .emit(&mut out, &mut Vec::new(), text.as_bytes())
        .unwrap();
    out
}

#[test]
fn integer_arrays_are_copied_as_json() {
    assert_eq!(raw(oid::INT4_ARRAY, "{1,2,3}"), "[1,2,3]");
    assert_eq!(raw(oid::INT4_ARRAY, "{}"), "[]");
    assert_eq!(raw(oid::INT4_ARRAY, "{-1,NULL,0}"), "[-1,null,0]");
    assert_eq!(raw(oid::INT2_ARRAY, "{{1,2},{3,NULL}}"), "[[1,2],[3,null]]");
    assert_eq!(raw(oid::INT4_ARRAY, "{NULL}"), "[null]");
    // Shapes the copy does not take go through the array parser.
    assert_eq!(raw(oid::INT4_ARRAY, "[0:1]={5,6}"), "[5,6]");
}

#[test]
fn bytea_goes_beside_the_text_as_bytes() {
    let (mut out, mut bytes) = (String::new(), Vec::new());
    for text in ["\\xdeadBEEF", "\\x", "\\x00ff"] {
        Emitter::new(oid::BYTEA, Format::Text)
            .emit(&mut out, &mut bytes, text.as_bytes())
            .unwrap();
        out.push(',');
    }
    // An array of bytea (decoded, then written the same way).
    let array = br#"{"\\x01",NULL}"#;
    Emitter::new(oid::BYTEA_ARRAY, Format::Text)
        .emit(&mut out, &mut bytes, array)
        .unwrap();
    assert_eq!(out, "4,0,2,[1,null]");
    assert_eq!(bytes, [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x01]);
    // Neither hex nor the escape format: bytea's reader refuses it, and nothing is left in the
    // buffer.
    for text in ["\\xabc", "\\xzz"] {
        let before = bytes.len();
        assert!(
            Emitter::new(oid::BYTEA, Format::Text)
                .emit(&mut out, &mut bytes, text.as_bytes())
                .is_err()
        );
        assert_eq!(bytes.len(), before);
    }
}

/// Mutations of typical values: cut at every length, and each byte replaced in turn.
fn mutations(seed: &str) -> Vec<Vec<u8>> {
    const SWAPS: &[u8] = b"09-+:. {},Nxe\\\"\0\xff";
    let seed = seed.as_bytes();
    let mut out: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
    for i in 0..seed.len() {
        for &swap in SWAPS {
            let mut v = seed.to_vec();
            v[i] = swap;
            out.push(v);
        }
    }
    out
}

/// JSON text and the bytes beside it.
type Written = Result<(String, Vec<u8>)>;

/// The JSON path's output and the decoder's for one text.
fn both(type_oid: Oid, raw: &[u8]) -> (Written, Written) {
    let (mut out, mut bytes) = (String::new(), Vec::new());
    let path = Emitter::new(type_oid, Format::Text)
        .emit(&mut out, &mut bytes, raw)
        .map(|()| (out, bytes));
    let decoder = decode(type_oid, Format::Text, raw).map(|value| {
        let (mut out, mut bytes) = (String::new(), Vec::new());
        emit_value(&mut out, &mut bytes, &value);
        (out, bytes)
    });
    (path, decoder)
}

/// JSON with every number outside strings respelled as Rust prints the `f64` (the path
/// copies Postgres' float digits, the decoder printed its own), and `"NaN"`/`"Infinity"`
/// strings as the TS layer reads them in a float column.
fn numbers_read(json: &str) -> String {
    let mut out = String::new();
    let mut chars = json.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '-' || c.is_ascii_digit() {
            let mut number = String::from(c);
            while let Some(&d) = chars.peek() {
                if !(d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-')) {
                    break;
                }
                number.push(d);
                chars.next();
            }
            out.push_str(&format!("{:?}", number.parse::<f64>().unwrap()));
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out.replace("\"-Infinity\"", "-inf")
        .replace("\"Infinity\"", "inf")
        .replace("\"NaN\"", "NaN")
}

fn is_float(type_oid: Oid) -> bool {
    matches!(
        element_oid(type_oid).unwrap_or(type_oid),
        oid::FLOAT4 | oid::FLOAT8
    )
}

/// A type whose text the path hands out as a string without reading it (the decoder reads
/// it, and may refuse it).
fn passed_as_text(type_oid: Oid) -> bool {
    let scalar = element_oid(type_oid).unwrap_or(type_oid);
    Emitter::new(scalar, Format::Text).how == How::String
}

/// Every value Postgres printed (the recorded outputs) and, as one- and two-element arrays,
/// every one of them with an array type: written as the decoder writes it.
#[test]
fn what_postgres_prints_is_written_as_the_decoder_writes_it() {
    let mut texts: Vec<(Oid, String)> = Vec::new();
    for &(type_oid, text, _) in crate::proto::types::fixtures::RECORDED {
        texts.push((type_oid, text.to_owned()));
        if let Some(array) = crate::proto::types::array_oid(type_oid) {
            let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
            texts.push((array, format!("{{\"{quoted}\"}}")));
            texts.push((array, format!("[0:1]={{NULL,\"{quoted}\"}}")));
            texts.push((array, format!("{{{{\"{quoted}\"}},{{NULL}}}}")));
        }
    }
    assert!(texts.len() > 400, "{}", texts.len());
    for (type_oid, text) in texts {
        match both(type_oid, text.as_bytes()) {
            (Ok((p, pb)), Ok((d, db))) => {
                let (p, d) = match is_float(type_oid) {
                    true => (numbers_read(&p), numbers_read(&d)),
                    false => (p, d),
                };
                assert_eq!((p, pb), (d, db), "{text:?} (oid {type_oid})");
            }
            (p, d) => panic!("{text:?} (oid {type_oid}): path {p:?}, decoder {d:?}"),
        }
    }
}

/// Mutated texts: what the path writes, the decoder reads as the same value; what the path
/// refuses, the decoder refuses too or reads from a spelling Postgres never prints (its
/// value prints otherwise: `1.` for `1`, `+7` for `7`). Pass-through types are read by
/// the TS layer's user, not here.
#[test]
fn the_copying_paths_agree_with_the_decoder() {
    let seeds: &[(Oid, &str)] = &[
        (oid::INT2, "-32768"),
        (oid::INT2, "32767"),
        (oid::INT4, "-2147483648"),
        (oid::INT4, "2147483647"),
        (oid::INT4, "10"),
        (oid::OID, "4294967295"),
        (oid::OID, "10"),
        (oid::INT2, "+7"),
        (oid::FLOAT8, "1.25e+30"),
        (oid::FLOAT8, "-0.5"),
        (oid::FLOAT8, "12345678901234567"),
        (oid::FLOAT4, "Infinity"),
        (oid::BOOL, "t"),
        (oid::BOOL, "f"),
        (oid::INT2_ARRAY, "{{1,-2},{NULL,32767}}"),
        (oid::INT4_ARRAY, "{10,-2147483648,NULL}"),
        (oid::OID_ARRAY, "{0,4294967295}"),
        (oid::BYTEA, "\\x00ffA0"),
        (oid::BYTEA, "a\\\\b\\000"),
        (oid::TIMESTAMPTZ, "2024-02-29 23:59:59.123456+05:30:15"),
        (oid::TIMESTAMP, "2024-02-29 23:59:59.5"),
        (oid::TIMESTAMP, "0044-03-15 12:00:00 BC"),
        (oid::CHAR, "\\101"),
        (oid::FLOAT8_ARRAY, "{1.5,-0,NaN,1e+20}"),
        (oid::BOOL_ARRAY, "{t,f,NULL}"),
        (oid::TEXT_ARRAY, "{\"a,b\",\"c\\\"d\",NULL,e}"),
        (oid::BYTEA_ARRAY, "{\"\\\\x01ff\",NULL}"),
        (
            oid::TIMESTAMPTZ_ARRAY,
            "{\"2024-01-01 00:00:01.5+00\",infinity}",
        ),
    ];
    let mut checked = 0;
    for &(type_oid, seed) in seeds {
        for raw in mutations(seed) {
            let shown = String::from_utf8_lossy(&raw);
            match both(type_oid, &raw) {
                (Ok((p, pb)), Ok((d, db))) => {
                    let (p, d) = match is_float(type_oid) {
                        true => (numbers_read(&p), numbers_read(&d)),
                        false => (p, d),
                    };
                    assert_eq!((p, pb), (d, db), "{shown:?} (oid {type_oid})");
                }
                (Err(_), Err(_)) => {}
                (Ok(_), Err(_)) if passed_as_text(type_oid) => {}
                (Err(_), Ok(_)) => {
                    let printed = decode(type_oid, Format::Text, &raw).unwrap().to_string();
                    assert_ne!(printed.as_bytes(), &raw[..], "{shown:?} (oid {type_oid})");
                }
                (p, d) => panic!("{shown:?} (oid {type_oid}): path {p:?}, decoder {d:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 4000, "{checked}");
}

/// Server text is untrusted: pseudo-random texts for every type (and its array, and types
/// it does not know) never panic, and a refused value leaves the byte buffer as it was.
#[test]
fn arbitrary_text_never_panics() {
    const PIECES: &[&str] = &[
        "{",
        "}",
        ",",
        "\"",
        "\\",
        "NULL",
        "null",
        "[0:1]=",
        "[",
        "]",
        ":",
        "=",
        " ",
        "-",
        "+",
        ".",
        "e",
        "E",
        "0",
        "7",
        "99999999999",
        "t",
        "f",
        "\\x",
        "ff",
        "zz",
        "\\000",
        "\\377",
        "BC",
        "infinity",
        "2024-02-29 23:59:59.5",
        "+05:30",
        "NaN",
        "Infinity",
        "é",
        "\u{0}",
        "\n",
    ];
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut oids: Vec<Oid> = (0..3000)
        .filter(|&o| crate::proto::types::array_oid(o).is_some() || element_oid(o).is_some())
        .collect();
    oids.extend([oid::UNKNOWN, 600, 1017, 0]);
    assert!(oids.len() > 50, "{}", oids.len());
    let mut refused = 0;
    for &type_oid in &oids {
        let emitter = Emitter::new(type_oid, Format::Text);
        for _ in 0..400 {
            let mut raw = Vec::new();
            for _ in 0..next(12) {
                match next(8) {
                    0 => raw.push(next(256) as u8),
                    _ => raw.extend_from_slice(PIECES[next(PIECES.len())].as_bytes()),
                }
            }
            let (mut out, mut bytes) = (String::new(), vec![1, 2, 3]);
            if emitter.emit(&mut out, &mut bytes, &raw).is_err() {
                assert_eq!(bytes, [1, 2, 3], "{:?}", String::from_utf8_lossy(&raw));
                refused += 1;
            }
        }
    }
    assert!(refused > 1000, "{refused}");
    // Binary format is never read here.
    assert!(
        Emitter::new(oid::INT4, Format::Binary)
            .emit(&mut String::new(), &mut Vec::new(), &[0, 0, 0, 1])
            .is_err()
    );
}

#[test]
fn copied_values_stay_json() {
    assert_eq!(raw(oid::INT4, "-42"), "-42");
    assert_eq!(raw(oid::FLOAT8, "1.25e+30"), "1.25e+30");
    assert_eq!(raw(oid::FLOAT8, "NaN"), "\"NaN\"");
    assert_eq!(raw(oid::BOOL, "t"), "true");
    assert_eq!(raw(oid::BOOL, "f"), "false");
    assert_eq!(
        raw(oid::TEXT, "a\"b\\c\n\u{1}"),
        "\"a\\\"b\\\\c\\n\\u0001\""
    );
    assert_eq!(
        raw(oid::TIMESTAMPTZ, "2024-01-01 00:00:01.5+00"),
        "1704067201500"
    );
    assert_eq!(raw(oid::TIMESTAMPTZ, "1969-12-31 23:59:59.9999+00"), "-1");
    assert_eq!(raw(oid::TIMESTAMPTZ, "infinity"), "\"infinity\"");
    assert_eq!(kind_of(oid::TIMESTAMPTZ), ColumnKind::Date);
}
