//! `float4` and `float8` text: Postgres' shortest round-trip output (`extra_float_digits=1`,
//! the default since Postgres 12).
//!
//! Postgres prints the shortest digit string that reads back to the same float (Ryu), in fixed
//! notation when the decimal exponent is in `-4..15` (`-4..6` for `float4`, printf's `%g` rule
//! for `DBL_DIG`/`FLT_DIG`), otherwise as `d.ddde+XX` with at least two exponent digits. Rust's
//! `{:e}` yields the same shortest digits, so only the layout is done here.

use std::fmt;

/// Prints a `float8` as Postgres does: `1e+20`, `1.5e-05`, `0.1`, `-0`, `NaN`, `-Infinity`.
pub(super) fn fmt_f64(v: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    fmt_shortest(&format!("{v:e}"), DBL_DIG, f)
}

/// Prints a `float4` as Postgres does (the shortest digits that read back as the same `f32`).
pub(super) fn fmt_f32(v: f32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    fmt_shortest(&format!("{v:e}"), FLT_DIG, f)
}

/// Parses `float8` text, including `NaN`, `Infinity` and `-Infinity`.
pub(super) fn parse_f64(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Parses `float4` text straight to `f32` (no double rounding through `f64`).
pub(super) fn parse_f32(text: &str) -> Option<f32> {
    match text {
        "NaN" => Some(f32::NAN),
        "Infinity" => Some(f32::INFINITY),
        "-Infinity" => Some(f32::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Fixed notation is used for decimal exponents below this (`DBL_DIG`).
const DBL_DIG: i32 = 15;
/// Fixed notation is used for decimal exponents below this for `float4` (`FLT_DIG`).
const FLT_DIG: i32 = 6;

/// Lays out Rust's shortest scientific form (`-1.5e-5`) the way Postgres' Ryu port does.
fn fmt_shortest(scientific: &str, fixed_below: i32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    f.write_str(sign)?;
    if !(-4..fixed_below).contains(&exponent) {
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return write!(f, "{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs());
    }
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        return write!(f, "0.{zeros}{digits}");
    }
    let int_len = exponent as usize + 1;
    match digits.split_at_checked(int_len) {
        Some((int, frac)) if !frac.is_empty() => write!(f, "{int}.{frac}"),
        _ => write!(
            f,
            "{digits}{}",
            "0".repeat(int_len.saturating_sub(digits.len()))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Value, decode, oid};

    #[test]
    fn float8_output_matches_postgres() {
        // Expected strings from `SELECT x::float8` on Postgres 15.
        let cases: &[(f64, &str)] = &[
            (1e20, "1e+20"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.0, "123"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for &(v, want) in cases {
            assert_eq!(Value::Float8(v).to_string(), want);
            let back = decode(oid::FLOAT8, Format::Text, want.as_bytes()).unwrap();
            assert_eq!(back.to_string(), want);
        }
    }

    #[test]
    fn float4_output_matches_postgres() {
        let cases: &[(f32, &str)] = &[
            (1e6, "1e+06"),
            (1e5, "100000"),
            (123456.7, "123456.7"),
            (1.1, "1.1"),
            (1e-5, "1e-05"),
            (3.4e38, "3.4e+38"),
            (f32::NAN, "NaN"),
            (f32::NEG_INFINITY, "-Infinity"),
            (-0.0, "-0"),
        ];
        for &(v, want) in cases {
            assert_eq!(Value::Float4(v).to_string(), want);
            let back = decode(oid::FLOAT4, Format::Text, want.as_bytes()).unwrap();
            assert_eq!(back.to_string(), want);
        }
    }

    #[test]
    fn float_text_round_trips_bit_for_bit() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            // xorshift: deterministic bit patterns across the whole range.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            let back = decode(
                oid::FLOAT8,
                Format::Text,
                Value::Float8(v).to_string().as_bytes(),
            );
            match back.unwrap() {
                Value::Float8(b) => assert!(b.to_bits() == v.to_bits() || v.is_nan()),
                other => panic!("{other:?}"),
            }
            let v = f32::from_bits(x as u32);
            let back = decode(
                oid::FLOAT4,
                Format::Text,
                Value::Float4(v).to_string().as_bytes(),
            );
            match back.unwrap() {
                Value::Float4(b) => assert!(b.to_bits() == v.to_bits() || v.is_nan()),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn malformed_floats_are_errors() {
        for bad in ["", "1.5x", "--1", "1e"] {
            assert!(
                decode(oid::FLOAT8, Format::Text, bad.as_bytes()).is_err(),
                "{bad}"
            );
            assert!(
                decode(oid::FLOAT4, Format::Text, bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert!(decode(oid::FLOAT8, Format::Binary, &[0; 7]).is_err());
        assert!(decode(oid::FLOAT4, Format::Binary, &[0; 5]).is_err());
        let v = decode(oid::FLOAT8, Format::Binary, &1.5f64.to_be_bytes()).unwrap();
        assert_eq!(v, Value::Float8(1.5));
    }
}
