//! `interval`: months, days and microseconds, and the `IntervalStyle=postgres` text form
//! (`1 year 2 mons 3 days 04:05:06.789`, `-1 years -2 mons +3 days -04:05:06`).

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::temporal::{fmt_clock_magnitude, parse_clock, parse_digits};
use crate::error::{Error, Result};

/// An `interval`. The three fields are independent, as in Postgres: a month is not a fixed
/// number of days, nor a day a fixed number of microseconds (across a DST change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    /// Months (years are 12 months).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

impl Interval {
    /// Parses the `postgres` style: signed `N year(s)`, `N mon(s)`, `N day(s)` fields, then an
    /// optionally signed `hh:mm:ss[.ffffff]` with hours of any size.
    pub(super) fn parse(text: &str) -> Result<Interval> {
        Interval::parse_postgres(text)
            .ok_or_else(|| Error::decode("invalid interval value in text format"))
    }

    /// Decodes the binary form: microseconds (`int8`), days (`int4`), months (`int4`).
    pub(super) fn decode_binary(raw: &[u8]) -> Result<Interval> {
        let bytes: &[u8; 16] = raw
            .try_into()
            .map_err(|_| Error::decode("invalid interval value in binary format"))?;
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            d0,
            d1,
            d2,
            d3,
            n0,
            n1,
            n2,
            n3,
        ] = *bytes;
        Ok(Interval {
            micros: i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            days: i32::from_be_bytes([d0, d1, d2, d3]),
            months: i32::from_be_bytes([n0, n1, n2, n3]),
        })
    }

    pub(super) fn encode_binary(&self, buf: &mut BytesMut) {
        buf.put_i64(self.micros);
        buf.put_i32(self.days);
        buf.put_i32(self.months);
    }

    fn parse_postgres(text: &str) -> Option<Interval> {
        let (mut months, mut days, mut micros) = (0i64, 0i64, None);
        let mut tokens = text.split(' ');
        while let Some(token) = tokens.next() {
            if micros.is_some() {
                // The time of day comes last.
                return None;
            }
            if token.contains(':') {
                micros = Some(parse_signed_clock(token)?);
                continue;
            }
            let (negative, digits) = split_sign(token);
            let magnitude: i64 = parse_digits(digits)?;
            let value = if negative { -magnitude } else { magnitude };
            match tokens.next()? {
                "year" | "years" => months = months.checked_add(value.checked_mul(12)?)?,
                "mon" | "mons" => months = months.checked_add(value)?,
                "day" | "days" => days = days.checked_add(value)?,
                _ => return None,
            }
        }
        Some(Interval {
            months: i32::try_from(months).ok()?,
            days: i32::try_from(days).ok()?,
            micros: micros.unwrap_or(0),
        })
    }
}

impl fmt::Display for Interval {
    /// Prints the `postgres` style exactly as Postgres' EncodeInterval: nonzero year, month
    /// and day fields, then the time if nonzero or if nothing else printed. A field after a
    /// negative one carries an explicit `+` when positive.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut is_zero, mut is_before) = (true, false);
        let fields = [
            (self.months / 12, "year"),
            (self.months % 12, "mon"),
            (self.days, "day"),
        ];
        for (value, unit) in fields {
            if value == 0 {
                continue;
            }
            let space = if is_zero { "" } else { " " };
            let plus = if is_before && value > 0 { "+" } else { "" };
            let plural = if value != 1 { "s" } else { "" };
            write!(f, "{space}{plus}{value} {unit}{plural}")?;
            is_before = value < 0;
            is_zero = false;
        }
        if is_zero || self.micros != 0 {
            let space = if is_zero { "" } else { " " };
            let sign = match self.micros < 0 {
                true => "-",
                false if is_before => "+",
                false => "",
            };
            write!(f, "{space}{sign}")?;
            fmt_clock_magnitude(self.micros.unsigned_abs(), f)?;
        }
        Ok(())
    }
}

fn split_sign(token: &str) -> (bool, &str) {
    match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    }
}

/// Parses `[+-]hh:mm:ss[.ffffff]`; `-2562047788:00:54.775808` is `i64::MIN`.
fn parse_signed_clock(token: &str) -> Option<i64> {
    let (negative, clock) = split_sign(token);
    let magnitude = parse_clock(clock)?;
    match negative {
        true => 0i64.checked_sub_unsigned(magnitude),
        false => i64::try_from(magnitude).ok(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::{Format, Value, decode, oid};
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// Text recorded from Postgres 15 (`IntervalStyle=postgres`).
    const RECORDED: &[(i32, i32, i64, &str)] = &[
        (14, 3, 14_706_789_000, "1 year 2 mons 3 days 04:05:06.789"),
        (0, 0, -1_000_000, "-00:00:01"),
        (0, 0, 0, "00:00:00"),
        (
            -14,
            3,
            -14_706_000_000,
            "-1 years -2 mons +3 days -04:05:06",
        ),
        (1, -1, 0, "1 mon -1 days"),
        (0, -1, 3_600_000_000, "-1 days +01:00:00"),
        (0, -1, -3_600_000_000, "-1 days -01:00:00"),
        (0, 1, 0, "1 day"),
        (-13, 0, 0, "-1 years -1 mons"),
        (0, 0, 360_000_000_000_000, "100000:00:00"),
        (12, 1, 0, "1 year 1 day"),
        (-12, 1, 0, "-1 years +1 day"),
        (0, 0, 1, "00:00:00.000001"),
        (0, -1, 0, "-1 days"),
        (1, 0, 1_000_000, "1 mon 00:00:01"),
    ];

    #[test]
    fn display_and_parse_match_postgres() {
        for &(months, days, micros, text) in RECORDED {
            let value = interval(months, days, micros);
            assert_eq!(value.to_string(), text);
            let parsed = decode(oid::INTERVAL, Format::Text, text.as_bytes()).unwrap();
            assert_eq!(parsed, Value::Interval(value), "{text}");
        }
    }

    #[test]
    fn extremes_round_trip() {
        for value in [
            interval(i32::MIN, i32::MIN, i64::MIN),
            interval(i32::MAX, i32::MAX, i64::MAX),
            interval(-1, 0, i64::MIN),
            interval(0, 0, 999_999),
        ] {
            let text = value.to_string();
            let parsed = decode(oid::INTERVAL, Format::Text, text.as_bytes()).unwrap();
            assert_eq!(parsed, Value::Interval(value), "{text}");
            let mut buf = BytesMut::new();
            Value::Interval(value).encode_binary(&mut buf).unwrap();
            let decoded = decode(oid::INTERVAL, Format::Binary, &buf).unwrap();
            assert_eq!(decoded, Value::Interval(value));
        }
        assert_eq!(
            interval(i32::MIN, i32::MIN, i64::MIN).to_string(),
            "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808"
        );
    }

    #[test]
    fn recorded_binary() {
        // interval_send('1 year 2 mons 3 days 04:05:06.789')
        let raw = [
            0x00, 0x00, 0x00, 0x03, 0x6c, 0x97, 0xca, 0x88, 0, 0, 0, 3, 0, 0, 0, 14,
        ];
        let value = decode(oid::INTERVAL, Format::Binary, &raw).unwrap();
        assert_eq!(value.to_string(), "1 year 2 mons 3 days 04:05:06.789");
    }

    #[test]
    fn malformed_intervals_are_errors() {
        for bad in [
            "",
            "1",
            "1 week",
            "1 year 2",
            "00:00:00 1 day",
            "1 day  00:00:00",
            "00:60:00",
            "1:2",
            "2147483648 days",
            "178956971 years",
            "-2562047788:00:54.775809",
            "1.5 days",
            "@ 1 day",
        ] {
            assert!(
                decode(oid::INTERVAL, Format::Text, bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(decode(oid::INTERVAL, Format::Binary, &[0; 15]).is_err());
        assert!(decode(oid::INTERVAL, Format::Binary, &[0; 17]).is_err());
    }
}
