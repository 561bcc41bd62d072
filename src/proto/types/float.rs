//! `float4` and `float8` text: Postgres' shortest round-trip output (`extra_float_digits=1`,
//! the default since Postgres 12).
//!
//! Postgres prints the digits its Ryu port picks, in fixed notation when the decimal exponent
//! is in `-4..15` (`-4..6` for `float4`: printf's `%g` rule for `DBL_DIG`/`FLT_DIG`), otherwise
//! as `d.ddde+XX` with at least two exponent digits.
//!
//! Ryu yields the shortest digits strictly inside the interval of decimals that round to the
//! float, and of those the closest, ties to even. Rust's `{:e}` yields the shortest digits too
//! but differs in two corner cases, fixed up here with exact integer arithmetic rather than a
//! port of Ryu's tables: Postgres builds Ryu without `STRICTLY_SHORTEST`, so a candidate
//! exactly on the interval's edge is refused (Rust takes it when the mantissa is even), and on
//! an exact tie Rust rounds up.

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
    let (fraction, biased) = (bits & ((1 << 52) - 1), (bits >> 52) & 0x7ff);
    let float = Binary::new(fraction, biased, 52, 1075);
    let abs = v.abs();
    let digits = float.shortest(
        &format!("{abs:e}"),
        |precision| format!("{abs:.precision$e}"),
        |text| text.parse::<f64>() == Ok(abs),
        17,
    );
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
    let bits = u64::from(v.to_bits());
    let (fraction, biased) = (bits & ((1 << 23) - 1), (bits >> 23) & 0xff);
    let float = Binary::new(fraction, biased, 23, 150);
    let abs = v.abs();
    let digits = float.shortest(
        &format!("{abs:e}"),
        |precision| format!("{abs:.precision$e}"),
        |text| text.parse::<f32>() == Ok(abs),
        9,
    );
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

/// Significant digits and the decimal exponent of the first one: `15` and `-6` for `1.5e-05`.
struct Shortest {
    digits: String,
    exponent: i32,
}

/// A finite float's absolute value as `mantissa · 2^exponent`.
struct Binary {
    mantissa: u64,
    exponent: i32,
    /// True at a power of two (other than the smallest): the next float down is closer than
    /// the next one up, so the interval reaches only half as far down.
    narrow_below: bool,
}

impl Binary {
    fn new(fraction: u64, biased: u64, fraction_bits: u32, bias: i32) -> Binary {
        // A biased exponent fits 11 bits.
        let biased = biased as i32;
        match biased {
            0 => Binary {
                mantissa: fraction,
                exponent: 1 - bias,
                narrow_below: false,
            },
            _ => Binary {
                mantissa: fraction | 1 << fraction_bits,
                exponent: biased - bias,
                narrow_below: fraction == 0 && biased > 1,
            },
        }
    }

    /// Ryu's digits, from Rust's shortest form (`scientific`), Rust's correctly rounded form
    /// with a given number of fraction digits (`exact`), and a parser (`reads_back`).
    fn shortest(
        &self,
        scientific: &str,
        exact: impl Fn(usize) -> String,
        reads_back: impl Fn(&str) -> bool,
        max_digits: usize,
    ) -> Shortest {
        let (digits, exponent) = split_scientific(scientific);
        if self.mantissa == 0 {
            return Shortest { digits, exponent };
        }
        let last = exponent - (digits.len() as i32 - 1);
        if self.on_edge(&digits, last) {
            // Nothing this short lies strictly inside: take the closest longer digits that do.
            for precision in digits.len()..max_digits {
                let (longer, exponent) = split_scientific(&exact(precision));
                let last = exponent - precision as i32;
                if reads_back(&format!("{longer}e{last}")) && !self.on_edge(&longer, last) {
                    let digits = longer.trim_end_matches('0').to_owned();
                    return Shortest { digits, exponent };
                }
            }
            let (digits, exponent) = split_scientific(&exact(max_digits - 1));
            return Shortest { digits, exponent };
        }
        // On an exact tie Rust rounded up to an odd last digit; Ryu takes the even one below.
        let lower = match digits.split_at_checked(digits.len().saturating_sub(1)) {
            Some((head, tail)) if matches!(tail, "1" | "3" | "5" | "7" | "9") => {
                let below: String = tail.bytes().map(|d| char::from(d - 1)).collect();
                Some(format!("{head}{below}"))
            }
            _ => None,
        };
        match lower {
            Some(lower)
                if self.is_halfway_above(&lower, last)
                    && reads_back(&format!("{lower}e{last}"))
                    && !self.on_edge(&lower, last) =>
            {
                let digits = lower.trim_end_matches('0').to_owned();
                Shortest { digits, exponent }
            }
            _ => Shortest { digits, exponent },
        }
    }

    /// Whether `digits · 10^last` is exactly an edge of the interval that reads back as this
    /// float: halfway to the next float up or down.
    fn on_edge(&self, digits: &str, last: i32) -> bool {
        let m = u128::from(self.mantissa);
        let above = (2 * m + 1, self.exponent - 1);
        let below = match self.narrow_below {
            true => (4 * m - 1, self.exponent - 2),
            false => (2 * m - 1, self.exponent - 1),
        };
        let Ok(digits) = digits.parse::<u128>() else {
            return false;
        };
        [above, below]
            .into_iter()
            .any(|(odd, exponent)| decimal_equals(digits, last, odd, exponent))
    }

    /// Whether this float is exactly `(lower + ½) · 10^last`.
    fn is_halfway_above(&self, lower: &str, last: i32) -> bool {
        let Ok(lower) = lower.parse::<u128>() else {
            return false;
        };
        let zeros = self.mantissa.trailing_zeros();
        let odd = u128::from(self.mantissa >> zeros);
        decimal_equals(lower * 10 + 5, last - 1, odd, self.exponent + zeros as i32)
    }
}

/// Whether `digits · 10^decimal_exponent == odd · 2^binary_exponent` exactly (`odd` odd).
fn decimal_equals(digits: u128, decimal_exponent: i32, odd: u128, binary_exponent: i32) -> bool {
    if digits == 0 {
        return false;
    }
    // digits · 10^q = (digits' odd part) · 5^q · 2^(zeros + q): compare both factors.
    let zeros = digits.trailing_zeros();
    let digits = digits >> zeros;
    if zeros as i32 + decimal_exponent != binary_exponent {
        return false;
    }
    let five_pow = |n: u32| 5u128.checked_pow(n);
    match u32::try_from(decimal_exponent) {
        Ok(q) => five_pow(q).and_then(|p| p.checked_mul(digits)) == Some(odd),
        Err(_) => {
            five_pow(decimal_exponent.unsigned_abs()).and_then(|p| p.checked_mul(odd))
                == Some(digits)
        }
    }
}

/// Splits Rust's `1.5e-5` into the digits `15` and the exponent of the first, `-5`.
fn split_scientific(scientific: &str) -> (String, i32) {
    let (digits, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let digits = digits.chars().filter(|&c| c != '.').collect();
    (digits, exponent.parse().unwrap_or(0))
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
        return write!(
            f,
            "{head}{point}{tail}e{sign}{:02}",
            exponent.unsigned_abs()
        );
    }
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
    fn corner_cases_where_postgres_ryu_differs_from_rust() {
        // (bits, Postgres 15 output): exact ties go to the even digit, and a candidate
        // exactly on the rounding interval's edge is refused (Ryu without STRICTLY_SHORTEST).
        let f64_cases: &[(u64, &str)] = &[
            (0x4310000000000001, "1.1258999068426242e+15"),
            (0x4310000000000003, "1.1258999068426248e+15"),
            (0x437a200000000000, "1.1765654026505421e+17"),
            (0x4357400000000000, "2.6177172834091008e+16"),
            (0x4340000000000000, "9.007199254740992e+15"),
            (0x0010000000000000, "2.2250738585072014e-308"),
            (0x000fffffffffffff, "2.225073858507201e-308"),
            (0x0000000000000001, "5e-324"),
        ];
        for &(bits, want) in f64_cases {
            assert_eq!(Value::Float8(f64::from_bits(bits)).to_string(), want);
        }
        let f32_cases: &[(u32, &str)] = &[
            (0x4a227f39, "2.6623502e+06"),
            (0x4a227f3b, "2.6623508e+06"),
            (0x4cc00000, "1.00663296e+08"),
            (0x4b800000, "1.6777216e+07"),
            (0x00800000, "1.1754944e-38"),
            (0x00000001, "1e-45"),
            (0x7f7fffff, "3.4028235e+38"),
        ];
        for &(bits, want) in f32_cases {
            assert_eq!(Value::Float4(f32::from_bits(bits)).to_string(), want);
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
