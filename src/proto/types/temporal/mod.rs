//! `date`, `time`, `timetz`, `timestamp` and `timestamptz`: the Postgres epoch representations
//! and their ISO text forms.
//!
//! Postgres counts from 2000-01-01 00:00:00 in the proleptic Gregorian calendar and prints
//! years before 1 AD as `0044-03-15 BC` (1 BC is astronomical year 0). `date` and the two
//! timestamps have `infinity` and `-infinity`, stored as the extreme values of their integer.
//! Text output here is what Postgres prints with `DateStyle=ISO` and `TimeZone=UTC`; text input
//! takes any UTC offset (`+05:30`, `-08`, `+00:09:21` for historical local mean time).

use std::fmt;

use bytes::{BufMut, BytesMut};
use postgres_protocol::types as pp;

use crate::error::{Error, Result};

mod parse;

pub(super) use parse::{parse_clock, parse_digits};
use parse::{parse_date, parse_offset, parse_time_of_day, parse_tz_common, strip_bc};

/// A `date`: days since 2000-01-01. [`Date::INFINITY`] and [`Date::NEG_INFINITY`] are
/// `infinity` and `-infinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

/// A `time`: microseconds since midnight, `0..=86_400_000_000` (`24:00:00` is valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

/// A `timetz`: a time of day and its UTC offset, in Postgres' binary convention of seconds
/// *west* of Greenwich (UTC+02 is `-7200`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeTz {
    /// Microseconds since midnight, local time.
    pub micros: i64,
    /// Seconds west of UTC: the negated offset.
    pub offset_seconds_west: i32,
}

/// A `timestamp` or `timestamptz`: microseconds since 2000-01-01 00:00:00 (UTC for
/// `timestamptz`). [`Timestamp::INFINITY`] and [`Timestamp::NEG_INFINITY`] are `infinity` and
/// `-infinity`.
///
/// `Display` prints the `timestamp` form; a `timestamptz` value prints with `+00` through
/// [`Value`](super::Value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Date {
    /// `infinity`.
    pub const INFINITY: Date = Date(i32::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Date = Date(i32::MIN);

    /// The date of a proleptic Gregorian year (astronomical: 0 is 1 BC, -1 is 2 BC), month and
    /// day; `None` if there is no such day or it does not fit.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        let year = i64::from(year);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day) - UNIX_EPOCH_DAYS;
        i32::try_from(days)
            .ok()
            .map(Date)
            .filter(|date| date.is_finite())
    }

    /// The astronomical year, month and day, or `None` for the infinities.
    pub fn to_ymd(self) -> Option<(i32, u32, u32)> {
        if !self.is_finite() {
            return None;
        }
        let (year, month, day) = civil_from_days(i64::from(self.0) + UNIX_EPOCH_DAYS);
        // |days| < 2^31 keeps the year within ±6 million.
        Some((i32::try_from(year).ok()?, month, day))
    }

    /// False for `infinity` and `-infinity`.
    pub fn is_finite(self) -> bool {
        self != Date::INFINITY && self != Date::NEG_INFINITY
    }

    /// Parses `2024-01-02`, `0044-03-15 BC`, `infinity`, `-infinity`.
    pub(super) fn parse(text: &str) -> Result<Date> {
        let invalid = || Error::decode("invalid date value in text format");
        match text {
            "infinity" => return Ok(Date::INFINITY),
            "-infinity" => return Ok(Date::NEG_INFINITY),
            _ => {}
        }
        let (text, bc) = strip_bc(text);
        let days = parse_date(text, bc).ok_or_else(invalid)?;
        i32::try_from(days)
            .ok()
            .map(Date)
            .filter(|date| date.is_finite())
            .ok_or_else(invalid)
    }
}

impl Time {
    /// Parses `03:04:05` or `03:04:05.5`; at most `24:00:00`.
    pub(super) fn parse(text: &str) -> Result<Time> {
        parse_time_of_day(text)
            .map(Time)
            .ok_or_else(|| Error::decode("invalid time value in text format"))
    }

    /// Decodes the binary form, checking the range as time_recv does.
    pub(super) fn decode_binary(raw: &[u8]) -> Result<Time> {
        pp::time_from_sql(raw)
            .ok()
            .filter(|micros| (0..=USECS_PER_DAY).contains(micros))
            .map(Time)
            .ok_or_else(|| Error::decode("invalid time value in binary format"))
    }
}

impl TimeTz {
    /// Parses `03:04:05+02`, `03:04:05.123-05:30`, `03:04:05+05:30:15`.
    pub(super) fn parse(text: &str) -> Result<TimeTz> {
        let invalid = || Error::decode("invalid timetz value in text format");
        let at = text.find(['+', '-']).ok_or_else(invalid)?;
        let (clock, offset) = text.split_at(at);
        let micros = parse_time_of_day(clock).ok_or_else(invalid)?;
        let east = parse_offset(offset).ok_or_else(invalid)?;
        Ok(TimeTz {
            micros,
            offset_seconds_west: -east,
        })
    }

    /// Decodes the binary form: the time (`int8`) then the zone (`int4`, seconds west).
    pub(super) fn decode_binary(raw: &[u8]) -> Result<TimeTz> {
        let invalid = || Error::decode("invalid timetz value in binary format");
        let (time, zone) = raw.split_at_checked(8).ok_or_else(invalid)?;
        let micros = pp::time_from_sql(time).map_err(|_| invalid())?;
        let west = pp::int4_from_sql(zone).map_err(|_| invalid())?;
        // The ranges timetz_recv enforces.
        if !(0..=USECS_PER_DAY).contains(&micros) || west.unsigned_abs() >= TZDISP_LIMIT {
            return Err(invalid());
        }
        Ok(TimeTz {
            micros,
            offset_seconds_west: west,
        })
    }

    pub(super) fn encode_binary(&self, buf: &mut BytesMut) {
        buf.put_i64(self.micros);
        buf.put_i32(self.offset_seconds_west);
    }
}

impl Timestamp {
    /// `infinity`.
    pub const INFINITY: Timestamp = Timestamp(i64::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Timestamp = Timestamp(i64::MIN);

    /// Microseconds since 1970-01-01 00:00:00 (UTC for a `timestamptz`); `None` for the
    /// infinities (and for the few finite values within 30 years of them, which do not fit).
    pub fn unix_micros(&self) -> Option<i64> {
        if !self.is_finite() {
            return None;
        }
        self.0.checked_add(UNIX_EPOCH_MICROS)
    }

    /// The timestamp `micros` microseconds after 1970-01-01 00:00:00; `None` if it does not
    /// fit or lands on an infinity.
    pub fn from_unix_micros(micros: i64) -> Option<Timestamp> {
        micros
            .checked_sub(UNIX_EPOCH_MICROS)
            .map(Timestamp)
            .filter(|ts| ts.is_finite())
    }

    /// False for `infinity` and `-infinity`.
    pub fn is_finite(&self) -> bool {
        *self != Timestamp::INFINITY && *self != Timestamp::NEG_INFINITY
    }

    /// Parses `timestamp` text: `2024-01-02 03:04:05.5`, `0044-03-15 12:00:00 BC`, `infinity`.
    pub(crate) fn parse(text: &str) -> Result<Timestamp> {
        Timestamp::parse_with(text, false)
            .ok_or_else(|| Error::decode("invalid timestamp value in text format"))
    }

    /// Parses `timestamptz` text (`2024-01-02 03:04:05+05:30`, `… 12:00:00+00 BC`) to UTC.
    pub(crate) fn parse_tz(text: &str) -> Result<Timestamp> {
        parse_tz_common(text.as_bytes())
            .or_else(|| Timestamp::parse_with(text, true))
            .ok_or_else(|| Error::decode("invalid timestamptz value in text format"))
    }

    /// The `timestamptz` form in UTC, as [`Timestamp::fmt_utc`] prints it.
    pub(crate) fn utc(self) -> impl fmt::Display {
        struct Utc(Timestamp);
        impl fmt::Display for Utc {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_utc(f)
            }
        }
        Utc(self)
    }

    /// Prints the `timestamptz` form in UTC: `2024-01-02 03:04:05.123456+00`.
    pub(super) fn fmt_utc(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(true, f)
    }

    fn parse_with(text: &str, with_offset: bool) -> Option<Timestamp> {
        match text {
            "infinity" => return Some(Timestamp::INFINITY),
            "-infinity" => return Some(Timestamp::NEG_INFINITY),
            _ => {}
        }
        let (text, bc) = strip_bc(text);
        let (date, clock) = text.split_once(' ')?;
        let (clock, east) = match with_offset {
            true => {
                let at = clock.find(['+', '-'])?;
                let (clock, offset) = clock.split_at(at);
                (clock, parse_offset(offset)?)
            }
            false => (clock, 0),
        };
        let days = parse_date(date, bc)?;
        let micros = parse_time_of_day(clock).filter(|micros| *micros < USECS_PER_DAY)?;
        // In i128: the earliest timestamps' day starts lie before i64::MIN microseconds.
        let total = i128::from(days) * i128::from(USECS_PER_DAY) + i128::from(micros)
            - i128::from(east) * i128::from(USECS_PER_SEC);
        i64::try_from(total)
            .ok()
            .map(Timestamp)
            .filter(|ts| ts.is_finite())
    }

    fn fmt_with(&self, utc: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timestamp::INFINITY => return f.write_str("infinity"),
            Timestamp::NEG_INFINITY => return f.write_str("-infinity"),
            _ => {}
        }
        let days = self.0.div_euclid(USECS_PER_DAY);
        let (year, month, day) = civil_from_days(days + UNIX_EPOCH_DAYS);
        fmt_ymd(year, month, day, f)?;
        f.write_str(" ")?;
        fmt_clock(self.0.rem_euclid(USECS_PER_DAY), f)?;
        if utc {
            f.write_str("+00")?;
        }
        fmt_era(year, f)
    }
}

impl fmt::Display for Date {
    /// `2024-01-02`, `0044-03-15 BC`, `infinity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Date::INFINITY => return f.write_str("infinity"),
            Date::NEG_INFINITY => return f.write_str("-infinity"),
            _ => {}
        }
        let (year, month, day) = civil_from_days(i64::from(self.0) + UNIX_EPOCH_DAYS);
        fmt_ymd(year, month, day, f)?;
        fmt_era(year, f)
    }
}

impl fmt::Display for Time {
    /// `03:04:05`, `03:04:05.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_clock(self.0, f)
    }
}

impl fmt::Display for TimeTz {
    /// `03:04:05+02`, `03:04:05.123-05:30`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_clock(self.micros, f)?;
        fmt_offset(self.offset_seconds_west, f)
    }
}

impl fmt::Display for Timestamp {
    /// The `timestamp` form: `2024-01-02 03:04:05`, `0044-03-15 12:00:00 BC`, `infinity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(false, f)
    }
}

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// 2000-01-01 counted in days from 1970-01-01.
const UNIX_EPOCH_DAYS: i64 = 10_957;
/// 2000-01-01 counted in microseconds from 1970-01-01.
const UNIX_EPOCH_MICROS: i64 = UNIX_EPOCH_DAYS * USECS_PER_DAY;
/// Offsets must be smaller than 16 hours (`TZDISP_LIMIT`).
const TZDISP_LIMIT: u32 = 16 * 3600;

/// Prints `hh:mm:ss` and the fraction of the second without trailing zeros, as Postgres'
/// AppendSeconds does; hours are not wrapped (`24:00:00`). Negative values (which no `time`
/// holds) print with a leading `-`.
fn fmt_clock(micros: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if micros < 0 {
        f.write_str("-")?;
    }
    fmt_clock_magnitude(micros.unsigned_abs(), f)
}

/// Prints a non-negative duration as `hh:mm:ss[.ffffff]`, hours unwrapped (`100000:00:00`).
pub(super) fn fmt_clock_magnitude(micros: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let secs = micros / 1_000_000;
    write!(
        f,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )?;
    fmt_fraction(micros % 1_000_000, f)
}

/// Prints `.ffffff` without trailing zeros, or nothing for zero.
fn fmt_fraction(micros: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if micros == 0 {
        return Ok(());
    }
    let (mut digits, mut width) = (micros, 6);
    while digits % 10 == 0 {
        digits /= 10;
        width -= 1;
    }
    write!(f, ".{digits:0width$}")
}

/// Prints an offset given in seconds west as Postgres' EncodeTimezone: `+02`, `-05:30`,
/// `+05:30:15`.
fn fmt_offset(seconds_west: i32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if seconds_west <= 0 { '+' } else { '-' };
    let total = seconds_west.unsigned_abs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if seconds != 0 {
        write!(f, "{sign}{hours:02}:{minutes:02}:{seconds:02}")
    } else if minutes != 0 {
        write!(f, "{sign}{hours:02}:{minutes:02}")
    } else {
        write!(f, "{sign}{hours:02}")
    }
}

/// Prints `yyyy-mm-dd` of an astronomical year, counting years before 1 AD as BC years.
fn fmt_ymd(year: i64, month: u32, day: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let shown = if year > 0 { year } else { 1 - year };
    write!(f, "{shown:04}-{month:02}-{day:02}")
}

fn fmt_era(year: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if year <= 0 {
        f.write_str(" BC")
    } else {
        Ok(())
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's inverse). Callers
/// pass at most about 2^31 in magnitude (a `Date`, or a `Timestamp` divided into days), far
/// from any overflow.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Value, decode, oid};
    use super::*;

    fn shown(oid: u32, text: &str) -> String {
        decode(oid, Format::Text, text.as_bytes())
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .to_string()
    }

    fn rejects(oid: u32, text: &str) -> bool {
        decode(oid, Format::Text, text.as_bytes()).is_err()
    }

    #[test]
    fn calendar_helpers() {
        assert_eq!(Date::from_ymd(2000, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(-10_957)));
        assert_eq!(Date(-1).to_ymd(), Some((1999, 12, 31)));
        assert_eq!(
            Date::from_ymd(-43, 3, 15).unwrap().to_string(),
            "0044-03-15 BC"
        );
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(Date::from_ymd(2024, 4, 31), None);
        assert_eq!(Date::INFINITY.to_ymd(), None);
        for days in (-2_451_545..2_145_031_949).step_by(7_919) {
            let (y, m, d) = Date(days).to_ymd().unwrap();
            assert_eq!(Date::from_ymd(y, m, d), Some(Date(days)));
        }
    }

    #[test]
    fn unix_micros_and_infinity() {
        assert_eq!(Timestamp(0).unix_micros(), Some(946_684_800_000_000));
        assert_eq!(
            Timestamp::from_unix_micros(0),
            Some(Timestamp(-946_684_800_000_000))
        );
        assert_eq!(Timestamp::INFINITY.unix_micros(), None);
        assert_eq!(Timestamp::NEG_INFINITY.unix_micros(), None);
        assert_eq!(Timestamp(i64::MAX - 1).unix_micros(), None);
        assert_eq!(Timestamp::from_unix_micros(i64::MIN), None);
        assert!(!Date::NEG_INFINITY.is_finite());
        assert!(Timestamp(5).is_finite());
    }

    #[test]
    fn leap_years_and_bc() {
        assert_eq!(shown(oid::DATE, "2000-02-29"), "2000-02-29");
        assert_eq!(shown(oid::DATE, "0001-02-29 BC"), "0001-02-29 BC");
        assert_eq!(shown(oid::DATE, "0005-02-29 BC"), "0005-02-29 BC");
        assert!(rejects(oid::DATE, "1900-02-29"));
        assert!(rejects(oid::DATE, "0002-02-29 BC"));
        assert_eq!(
            shown(oid::TIMESTAMP, "0001-12-31 23:59:59.999999 BC"),
            "0001-12-31 23:59:59.999999 BC"
        );
        let one_ad = decode(oid::TIMESTAMP, Format::Text, b"0001-01-01 00:00:00").unwrap();
        let one_bc = decode(
            oid::TIMESTAMP,
            Format::Text,
            b"0001-12-31 23:59:59.999999 BC",
        );
        match (one_ad, one_bc.unwrap()) {
            (Value::Timestamp(ad), Value::Timestamp(bc)) => assert_eq!(ad.0 - bc.0, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offsets_convert_to_utc() {
        for (input, want) in [
            ("2024-01-02 05:04:05+02", "2024-01-02 03:04:05+00"),
            ("2024-01-01 19:04:05.5-08", "2024-01-02 03:04:05.5+00"),
            ("2024-01-02 08:34:20+05:30:15", "2024-01-02 03:04:05+00"),
            ("1900-01-01 00:09:21+00:09:21", "1900-01-01 00:00:00+00"),
            ("0044-03-15 11:00:00-01 BC", "0044-03-15 12:00:00+00 BC"),
            ("2000-01-01 00:30:00+01", "1999-12-31 23:30:00+00"),
        ] {
            assert_eq!(shown(oid::TIMESTAMPTZ, input), want, "{input}");
        }
        assert_eq!(shown(oid::TIMETZ, "03:04:05-08"), "03:04:05-08");
        assert_eq!(shown(oid::TIMETZ, "03:04:05+00:30"), "03:04:05+00:30");
    }

    #[test]
    fn extreme_timestamps_print_and_parse_back() {
        for micros in [i64::MIN + 1, i64::MAX - 1, -1, 1, 86_399_999_999] {
            for oid in [oid::TIMESTAMP, oid::TIMESTAMPTZ] {
                let value = match oid {
                    oid::TIMESTAMP => Value::Timestamp(Timestamp(micros)),
                    _ => Value::TimestampTz(Timestamp(micros)),
                };
                let text = value.to_string();
                assert_eq!(
                    decode(oid, Format::Text, text.as_bytes()).unwrap(),
                    value,
                    "{text}"
                );
            }
        }
        for days in [i32::MIN + 1, i32::MAX - 1, 0] {
            let text = Date(days).to_string();
            let back = decode(oid::DATE, Format::Text, text.as_bytes()).unwrap();
            assert_eq!(back, Value::Date(Date(days)), "{text}");
        }
        // Values no time holds still print without panicking.
        assert_eq!(Time(-1).to_string(), "-00:00:00.000001");
        let _ = Time(i64::MIN).to_string();
        let _ = TimeTz {
            micros: i64::MAX,
            offset_seconds_west: i32::MIN,
        }
        .to_string();
    }

    #[test]
    fn time_ranges() {
        assert_eq!(shown(oid::TIME, "24:00:00"), "24:00:00");
        assert_eq!(shown(oid::TIME, "1:2:3.45"), "01:02:03.45");
        assert_eq!(shown(oid::TIMETZ, "24:00:00-15:59:59"), "24:00:00-15:59:59");
        let too_late = (USECS_PER_DAY + 1).to_be_bytes();
        assert!(decode(oid::TIME, Format::Binary, &too_late).is_err());
        assert!(decode(oid::TIME, Format::Binary, &(-1i64).to_be_bytes()).is_err());
        let mut zone = [0u8; 12];
        zone[8..].copy_from_slice(&57_600i32.to_be_bytes());
        assert!(decode(oid::TIMETZ, Format::Binary, &zone).is_err());
    }

    #[test]
    fn malformed_temporals_are_errors() {
        for bad in [
            "",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "0000-01-01",
            "2024-01",
            "2024-01-02-03",
            "2024/01/02",
            "2024-01-02 AD",
            "-2024-01-02",
            "Infinity",
            "2024-01-02 BC BC",
            "99999999-01-01",
        ] {
            assert!(rejects(oid::DATE, bad), "date {bad:?}");
        }
        for bad in [
            "",
            "24:00:01",
            "25:00:00",
            "12:60:00",
            "12:00:60",
            "12:00",
            "12:00:00.1234567",
            "12:00:00.",
            "12:00:00+02",
            "-01:00:00",
            "12:00:00:00",
        ] {
            assert!(rejects(oid::TIME, bad), "time {bad:?}");
        }
        for bad in [
            "03:04:05",
            "03:04:05+16",
            "03:04:05+02:60",
            "03:04:05+",
            "03:04:05+2x",
            "03:04:05+02:00:00:00",
        ] {
            assert!(rejects(oid::TIMETZ, bad), "timetz {bad:?}");
        }
        for bad in [
            "2024-01-02",
            "2024-01-02 24:00:00",
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05+00",
            "2024-01-02  03:04:05",
            "300000000-01-01 00:00:00",
            "294277-01-01 00:00:00 junk",
        ] {
            assert!(rejects(oid::TIMESTAMP, bad), "timestamp {bad:?}");
        }
        for bad in [
            "2024-01-02 03:04:05",
            "2024-01-02 03:04:05 UTC",
            "2024-01-02 03:04:05+16",
            "2024-01-02 03:04:05+00 AD",
        ] {
            assert!(rejects(oid::TIMESTAMPTZ, bad), "timestamptz {bad:?}");
        }
    }
}
