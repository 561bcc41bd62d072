//! `float4` and `float8` text: Postgres' shortest round-trip output (`extra_float_digits=1`,
//! the default since Postgres 12).
//!
//! Postgres prints the shortest digit string that reads back to the same float (Ryu), in fixed
//! notation when the decimal exponent is in `-4..15` (`-4..6` for `float4`, printf's `%g` rule
//! for `DBL_DIG`/`FLT_DIG`), otherwise as `d.ddde+XX` with at least two exponent digits. Rust's
//! `{:e}` yields the same shortest digits except on exact ties, which are fixed up here (see
//! [`shortest`]); the layout is Postgres'.

use std::fmt;

/// Prints a `float8` as Postgres does: `1e+20`, `1.5e-05`, `0.1`, `-0`, `NaN`, `-Infinity`.
pub(super) fn fmt_f64(v: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let bits = v.to_bits();
    let (fraction, biased) = (bits & ((1 << 52) - 1), ((bits >> 52) & 0x7ff) as i32);
    let (mantissa, exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    let abs = v.abs();
    let digits = shortest(&format!("{abs:e}"), mantissa, exponent, |text| {
        text.parse::<f64>() == Ok(abs)
    });
    layout(v.is_sign_negative(), digits, DBL_DIG, f)
}

/// Prints a `float4` as Postgres does (the shortest digits that read back as the same `f32`).
pub(super) fn fmt_f32(v: f32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let bits = v.to_bits();
    let (fraction, biased) = (bits & ((1 << 23) - 1), ((bits >> 23) & 0xff) as i32);
    let (mantissa, exponent) = match biased {
        0 => (fraction, -149),
        _ => (fraction | 1 << 23, biased - 150),
    };
    let abs = v.abs();
    let digits = shortest(&format!("{abs:e}"), mantissa.into(), exponent, |text| {
        text.parse::<f32>() == Ok(abs)
    });
    layout(v.is_sign_negative(), digits, FLT_DIG, f)
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

/// The shortest round-trip digits of a float and the decimal exponent of the first one.
struct Shortest {
    digits: String,
    exponent: i32,
}

/// Turns Rust's shortest scientific form of `|v|` = `mantissa · 2^exponent` (`1.5e-5`) into
/// Ryu's digits.
///
/// Both pick the shortest digit string that reads back as `v`, and of those the closest to
/// `v`. They differ only when `v` lies exactly halfway between two such strings: Ryu takes the
/// even one, Rust the upper one. So when Rust's last digit is odd, check with exact integer
/// arithmetic whether `v` is that midpoint and the lower string also reads back.
fn shortest(
    scientific: &str,
    mantissa: u64,
    exponent: i32,
    reads_back: impl Fn(&str) -> bool,
) -> Shortest {
    let (digits, first) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let digits: String = digits.chars().filter(|&c| c != '.').collect();
    let first: i32 = first.parse().unwrap_or(0);
    // The decimal exponent of the last digit.
    let last = first - (digits.len() as i32 - 1);
    let lower = match digits.split_at_checked(digits.len().saturating_sub(1)) {
        Some((head, tail)) if matches!(tail, "1" | "3" | "5" | "7" | "9") => {
            let below = tail.bytes().map(|d| char::from(d - 1)).collect::<String>();
            Some(format!("{head}{below}"))
        }
        _ => None,
    };
    let digits = match lower {
        Some(lower)
            if is_midpoint(mantissa, exponent, &lower, last)
                && reads_back(&format!("{lower}e{last}")) =>
        {
            lower.trim_end_matches('0').to_owned()
        }
        _ => digits,
    };
    Shortest {
        digits,
        exponent: first,
    }
}

/// Whether `mantissa · 2^exponent` equals `(lower + ½) · 10^last` exactly, that is
/// `c · 5^last · 2^(last-1)` with the odd `c = 2·lower + 1`.
fn is_midpoint(mantissa: u64, exponent: i32, lower: &str, last: i32) -> bool {
    let Ok(lower) = lower.parse::<u64>() else {
        return false;
    };
    if mantissa == 0 {
        return false;
    }
    let c = u128::from(lower) * 2 + 1;
    // Make the mantissa odd so both sides are odd · 2^n.
    let zeros = mantissa.trailing_zeros();
    let (odd, exponent) = (u128::from(mantissa >> zeros), exponent + zeros as i32);
    if exponent != last - 1 {
        return false;
    }
    let five_pow = |n: u32| 5u128.checked_pow(n);
    match u32::try_from(last) {
        Ok(k) => five_pow(k).and_then(|p| p.checked_mul(c)) == Some(odd),
        Err(_) => five_pow(last.unsigned_abs()).and_then(|p| p.checked_mul(odd)) == Some(c),
    }
}

/// Lays out the digits the way Postgres' Ryu port does: fixed notation for decimal exponents
/// in `-4..fixed_below`, otherwise `d.ddde+XX`.
fn layout(
    negative: bool,
    Shortest { digits, exponent }: Shortest,
    fixed_below: i32,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    if negative {
        f.write_str("-")?;
    }
    if !(-4..fixed_below).contains(&exponent) {
        let (head, tail) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        let point = if tail.is_empty() { "" } else { "." };
        let sign = if exponent < 0 { '-' } else { '+' };
        return write!(f, "{head}{point}{tail}e{sign}{:02}", exponent.unsigned_abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        return write!(f, "0.{zeros}{digits}");
    }
    let int_len = exponent as usize + 1;
    match digits.split_at_checked(int_len) {
        Some((int, frac)) if !frac.is_empty() => write!(f, "{int}.{frac}"),
        _ => write!(f, "{digits}{}", "0".repeat(int_len.saturating_sub(digits.len()))),
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
