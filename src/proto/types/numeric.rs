//! `numeric`: exact decimals, carried as the text Postgres prints (`-12.3400`, `NaN`,
//! `Infinity`).
//!
//! The binary form is a header (`ndigits`, `weight`, `sign`, `dscale`, each 16 bits) and
//! `ndigits` base-10000 digits; the value is `Σ digit[k] · 10000^(weight - k)` shown with
//! exactly `dscale` fraction digits. `postgres-protocol` has no numeric codec, so it is here.

use std::fmt::Write;

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};

/// Decodes the binary form into the text Postgres would print for it.
pub(super) fn decode_binary(raw: &[u8]) -> Result<String> {
    let invalid =
        |what: &str| Error::decode(format!("invalid numeric value in binary format: {what}"));
    let (header, rest) = raw
        .split_at_checked(8)
        .ok_or_else(|| invalid("too short"))?;
    let field = |i: usize| {
        header
            .get(i..i + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = field(0) as i16;
    let weight = i32::from(field(2) as i16);
    let sign = field(4);
    let dscale = field(6);
    if ndigits < 0 || rest.len() != ndigits as usize * 2 {
        return Err(invalid("length does not match the digit count"));
    }
    match sign {
        SIGN_NAN => return Ok("NaN".to_owned()),
        SIGN_PINF => return Ok("Infinity".to_owned()),
        SIGN_NINF => return Ok("-Infinity".to_owned()),
        SIGN_POS | SIGN_NEG => {}
        _ => return Err(invalid("unknown sign")),
    }
    if dscale > MAX_DSCALE {
        return Err(invalid("display scale out of range"));
    }
    let digits: Vec<u16> = rest
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    if digits.iter().any(|&d| d >= NBASE) {
        return Err(invalid("digit out of range"));
    }
    // The group of base-10000 weight `w` is digits[weight - w]; absent groups are zero.
    let group = |w: i32| {
        usize::try_from(weight - w)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(0)
    };
    let mut decimal = Decimal {
        negative: sign == SIGN_NEG,
        int: String::new(),
        frac: String::new(),
    };
    // Writing to a String cannot fail.
    for w in (0..=weight).rev() {
        let _ = write!(decimal.int, "{:04}", group(w));
    }
    for w in 1..=(i32::from(dscale) + 3) / 4 {
        let _ = write!(decimal.frac, "{:04}", group(-w));
    }
    // Like numeric_recv, digits beyond dscale are truncated away.
    decimal.frac.truncate(usize::from(dscale));
    Ok(decimal.canonical().render())
}

/// Parses numeric text (Postgres' output, or any input numeric_in accepts: a sign, `.5`,
/// `1e-3`, `nan`, `inf`) into the text Postgres prints for that value.
pub(super) fn parse_text(text: &str) -> Result<String> {
    Ok(match parse(text)? {
        Parsed::Special(special) => special.to_owned(),
        Parsed::Finite(decimal) => decimal.render(),
    })
}

/// Encodes numeric text in the binary form.
pub(super) fn encode_binary(text: &str, buf: &mut BytesMut) -> Result<()> {
    let decimal = match parse(text).map_err(|_| {
        Error::encode("a numeric parameter must be a decimal number, NaN, Infinity or -Infinity")
    })? {
        Parsed::Special(special) => {
            // numeric_send puts 32 in the dscale of an infinity (numeric_recv ignores it);
            // sending the same bytes keeps parameters identical to what the server echoes.
            let (sign, dscale) = match special {
                "NaN" => (SIGN_NAN, 0),
                "Infinity" => (SIGN_PINF, 32),
                _ => (SIGN_NINF, 32),
            };
            put_header(buf, 0, 0, sign, dscale);
            return Ok(());
        }
        Parsed::Finite(decimal) => decimal,
    };
    // Align the digits on base-10000 groups around the decimal point.
    let int_pad = (4 - decimal.int.len() % 4) % 4;
    let frac_pad = (4 - decimal.frac.len() % 4) % 4;
    let mut all = "0".repeat(int_pad);
    all.push_str(&decimal.int);
    all.push_str(&decimal.frac);
    all.push_str(&"0".repeat(frac_pad));
    let mut groups: Vec<u16> = all
        .as_bytes()
        .chunks_exact(4)
        .map(|g| g.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
        .collect();
    let mut weight = ((int_pad + decimal.int.len()) / 4) as i64 - 1;
    // Strip zero groups at both ends, as make_result does.
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let (weight, sign) = match groups.is_empty() {
        true => (0, SIGN_POS),
        false if decimal.negative => (weight, SIGN_NEG),
        false => (weight, SIGN_POS),
    };
    // parse() bounds the digit counts, so these fit; stay checked anyway.
    let too_big = || Error::encode("numeric parameter out of range");
    let ndigits = i16::try_from(groups.len()).map_err(|_| too_big())?;
    let weight = i16::try_from(weight).map_err(|_| too_big())?;
    let dscale = u16::try_from(decimal.frac.len()).map_err(|_| too_big())?;
    put_header(buf, ndigits, weight, sign, dscale);
    groups.iter().for_each(|&g| buf.put_u16(g));
    Ok(())
}

const NBASE: u16 = 10000;
const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// The largest display scale a numeric can carry (`NUMERIC_DSCALE_MAX`).
const MAX_DSCALE: u16 = 0x3FFF;
/// The most integer digits a numeric can have (`NUMERIC_WEIGHT_MAX` groups of 4).
const MAX_INT_DIGITS: usize = 4 * (i16::MAX as usize + 1);
/// numeric_in's limit on the exponent of `1.5e10` forms (`NUMERIC_MAX_PRECISION`).
const MAX_EXPONENT: u64 = 1000;

/// A finite numeric in canonical decimal form.
struct Decimal {
    negative: bool,
    /// Integer digits; canonical: no leading zeros (empty for zero).
    int: String,
    /// Exactly dscale fraction digits.
    frac: String,
}

enum Parsed {
    /// `NaN`, `Infinity` or `-Infinity`.
    Special(&'static str),
    Finite(Decimal),
}

impl Decimal {
    /// Drops leading zeros and the sign of zero (Postgres has no negative zero).
    fn canonical(mut self) -> Decimal {
        let zeros = self.int.bytes().take_while(|&b| b == b'0').count();
        self.int.drain(..zeros);
        if self.int.is_empty() && self.frac.bytes().all(|b| b == b'0') {
            self.negative = false;
        }
        self
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(self.int.len() + self.frac.len() + 3);
        if self.negative {
            out.push('-');
        }
        out.push_str(if self.int.is_empty() { "0" } else { &self.int });
        if !self.frac.is_empty() {
            out.push('.');
            out.push_str(&self.frac);
        }
        out
    }
}

fn parse(text: &str) -> Result<Parsed> {
    let invalid = || Error::decode("invalid numeric value in text format");
    let special = |s: &str| s.eq_ignore_ascii_case(text);
    if special("nan") {
        return Ok(Parsed::Special("NaN"));
    }
    if ["infinity", "+infinity", "inf", "+inf"]
        .into_iter()
        .any(special)
    {
        return Ok(Parsed::Special("Infinity"));
    }
    if ["-infinity", "-inf"].into_iter().any(special) {
        return Ok(Parsed::Special("-Infinity"));
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let exponent: i64 = exponent.parse().map_err(|_| invalid())?;
            if exponent.unsigned_abs() > MAX_EXPONENT {
                return Err(invalid());
            }
            (mantissa, exponent)
        }
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return Err(invalid());
    }
    let digits = [int, frac].concat();
    let point = int.len() as i64 + exponent;
    let (int, frac) = if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        (String::new(), zeros + &digits)
    } else if point as usize >= digits.len() {
        let zeros = "0".repeat(point as usize - digits.len());
        (digits + &zeros, String::new())
    } else {
        let (int, frac) = digits.split_at(point as usize);
        (int.to_owned(), frac.to_owned())
    };
    let decimal = Decimal {
        negative,
        int,
        frac,
    }
    .canonical();
    if decimal.int.len() > MAX_INT_DIGITS || decimal.frac.len() > usize::from(MAX_DSCALE) {
        return Err(Error::decode("numeric value out of range"));
    }
    Ok(Parsed::Finite(decimal))
}

fn put_header(buf: &mut BytesMut, ndigits: i16, weight: i16, sign: u16, dscale: u16) {
    buf.put_i16(ndigits);
    buf.put_i16(weight);
    buf.put_u16(sign);
    buf.put_u16(dscale);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::{Format, Value, decode, oid};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// (text, numeric_send hex) pairs recorded from Postgres 15.
    const RECORDED: &[(&str, &str)] = &[
        ("-12.3400", "0002000040000004000c0d48"),
        ("NaN", "00000000c0000000"),
        ("Infinity", "00000000d0000020"),
        ("-Infinity", "00000000f0000020"),
        ("0", "0000000000000000"),
        ("-0.001", "0001ffff40000003000a"),
        ("0.000", "0000000000000003"),
        ("12345678.9", "000300010000000104d2162e2328"),
        ("100000000000000000000", "00010005000000000001"),
    ];

    #[test]
    fn recorded_binary_decodes_and_encodes() {
        for &(text, bytes) in RECORDED {
            let bytes = hex(bytes);
            let value = decode(oid::NUMERIC, Format::Binary, &bytes).unwrap();
            assert_eq!(value, Value::Numeric(text.to_owned()));
            assert_eq!(
                decode(oid::NUMERIC, Format::Text, text.as_bytes()).unwrap(),
                value
            );
            let mut buf = BytesMut::new();
            value.encode_binary(&mut buf).unwrap();
            assert_eq!(buf.as_ref(), bytes.as_slice(), "{text}");
            assert_eq!(decode(oid::NUMERIC, Format::Binary, &buf).unwrap(), value);
        }
    }

    #[test]
    fn text_is_canonicalized_like_numeric_in() {
        for (input, want) in [
            ("-0.000", "0.000"),
            ("1.50e1", "15.0"),
            ("1e-3", "0.001"),
            (".5", "0.5"),
            ("+5.", "5"),
            ("007.10", "7.10"),
            ("nan", "NaN"),
            ("-inf", "-Infinity"),
            ("1E+2", "100"),
        ] {
            let value = decode(oid::NUMERIC, Format::Text, input.as_bytes()).unwrap();
            assert_eq!(value.to_string(), want, "{input}");
        }
    }

    #[test]
    fn large_scales_and_weights_round_trip() {
        let long = format!("{}.{}", "9".repeat(300), "0".repeat(299) + "1");
        for text in [
            long.as_str(),
            "0.00000000000000000000000000000001",
            "-98765432109876543210.123456789",
            "1",
            "10000",
            "0.0001",
            "123456789.000000000",
        ] {
            let value = Value::Numeric(text.to_owned());
            let mut buf = BytesMut::new();
            value.encode_binary(&mut buf).unwrap();
            assert_eq!(
                decode(oid::NUMERIC, Format::Binary, &buf).unwrap(),
                value,
                "{text}"
            );
        }
    }

    #[test]
    fn binary_beyond_dscale_is_truncated_and_missing_groups_are_zero() {
        // 1.2348 with dscale 2 prints 1.23; weight 2 with one digit is 1 0000 0000.
        let v = decode(
            oid::NUMERIC,
            Format::Binary,
            &hex("00020000000000020001092c"),
        )
        .unwrap();
        assert_eq!(v.to_string(), "1.23");
        let v = decode(oid::NUMERIC, Format::Binary, &hex("00010002000000010001")).unwrap();
        assert_eq!(v.to_string(), "100000000.0");
        // Negative zero from a non-canonical sender prints as 0.
        let v = decode(oid::NUMERIC, Format::Binary, &hex("00010000400000000000")).unwrap();
        assert_eq!(v.to_string(), "0");
    }

    #[test]
    fn malformed_numerics_are_errors() {
        for bad in [
            "", "-", ".", "1.2.3", "1e", "1e1001", "abc", "1 ", " 1", "0x10", "--1",
        ] {
            assert!(
                decode(oid::NUMERIC, Format::Text, bad.as_bytes()).is_err(),
                "{bad:?}"
            );
            let mut buf = BytesMut::new();
            assert!(
                Value::Numeric(bad.to_owned())
                    .encode_binary(&mut buf)
                    .is_err()
            );
        }
        for bad in [
            "",
            "0001000000000000",      // one digit announced, none sent
            "000100000000000027 10", // digit 10000
            "0000000012340000",      // unknown sign
            "000000000000c000",      // dscale beyond 0x3fff
            "ffff000000000000",      // negative digit count
            "00000000000000000000",  // trailing bytes
            "00010000000000",        // truncated header
        ] {
            let bytes = hex(&bad.replace(' ', ""));
            assert!(
                decode(oid::NUMERIC, Format::Binary, &bytes).is_err(),
                "{bad}"
            );
        }
    }
}
