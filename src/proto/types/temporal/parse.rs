//! The text forms of dates, times and offsets, read: the general readers Postgres' ISO output
//! (and any UTC offset) goes through, and a positional reader for the common `timestamptz`
//! shape of a large result.

use super::{
    TZDISP_LIMIT, Timestamp, UNIX_EPOCH_DAYS, USECS_PER_DAY, USECS_PER_SEC, days_from_civil,
    days_in_month,
};

/// Parses `hh:mm:ss[.ffffff]` into microseconds; the caller bounds the hours. Hours may have
/// any number of digits (intervals print `100000:00:00`).
pub(in crate::proto::types) fn parse_clock(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let hours: u64 = parse_digits(parts.next()?)?;
    let minutes: u64 = parse_digits(parts.next()?)?;
    let seconds = parts.next()?;
    if parts.next().is_some() || minutes >= 60 {
        return None;
    }
    let (seconds, fraction) = match seconds.split_once('.') {
        Some((seconds, fraction)) => (seconds, parse_fraction(fraction)?),
        None => (seconds, 0),
    };
    let seconds: u64 = parse_digits(seconds).filter(|s| *s < 60)?;
    hours
        .checked_mul(3600)?
        .checked_add(minutes * 60 + seconds)?
        .checked_mul(1_000_000)?
        .checked_add(fraction)
}

/// Parses a time of day, `00:00:00` to `24:00:00`, into microseconds.
pub(super) fn parse_time_of_day(text: &str) -> Option<i64> {
    i64::try_from(parse_clock(text)?)
        .ok()
        .filter(|micros| *micros <= USECS_PER_DAY)
}

/// Parses 1 to 6 fraction digits into microseconds.
fn parse_fraction(text: &str) -> Option<u64> {
    if text.len() > 6 {
        return None;
    }
    let value: u64 = parse_digits(text)?;
    Some(value * 10u64.pow(6 - text.len() as u32))
}

/// Parses a non-empty run of ASCII digits (no sign), at most 18 of them so it fits any i64.
pub(in crate::proto::types) fn parse_digits<T: TryFrom<i64>>(text: &str) -> Option<T> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    T::try_from(text.parse::<i64>().ok()?).ok()
}

/// Splits a trailing ` BC` off.
pub(super) fn strip_bc(text: &str) -> (&str, bool) {
    match text.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

/// Parses `yyyy-mm-dd` (a year of 1 or more digits, counted BC when `bc`) into days since
/// 2000-01-01.
pub(super) fn parse_date(text: &str, bc: bool) -> Option<i64> {
    let mut parts = text.split('-');
    let year: i64 = parse_digits(parts.next()?).filter(|y| (1..=MAX_YEAR).contains(y))?;
    let month: u32 = parse_digits(parts.next()?)?;
    let day: u32 = parse_digits(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) - UNIX_EPOCH_DAYS)
}

/// The `timestamptz` text Postgres prints for years 1000 to 9999,
/// `yyyy-mm-dd hh:mm:ss[.ffffff]±hh[:mm[:ss]]`, read by position: a large result's
/// timestamps are nearly all of this shape. `None` for any other text (an era, a longer year,
/// `infinity`, anything malformed), which the general parser then decides.
pub(super) fn parse_tz_common(b: &[u8]) -> Option<Timestamp> {
    /// The value of a run of ASCII digits.
    fn num(digits: &[u8]) -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    }
    if b.len() < 22
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = num(&b[..4]).filter(|y| *y >= 1000)?;
    let month = u32::try_from(num(&b[5..7])?).ok()?;
    let day = u32::try_from(num(&b[8..10])?).ok()?;
    let (hours, minutes, seconds) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || minutes >= 60
        || seconds >= 60
    {
        return None;
    }
    let mut at = 19;
    let mut fraction = 0;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=6).contains(&digits) {
            return None;
        }
        fraction = num(&b[at + 1..at + 1 + digits])? * 10i64.pow(6 - digits as u32);
        at += 1 + digits;
    }
    let micros = ((hours * 60 + minutes) * 60 + seconds) * USECS_PER_SEC + fraction;
    if micros >= USECS_PER_DAY {
        return None;
    }
    // The offset: `+hh`, `+hh:mm` or `+hh:mm:ss`.
    let sign = match b.get(at) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let offset = &b[at + 1..];
    let part = |i: usize| num(&offset[3 * i..3 * i + 2]);
    let (oh, om, os) = match offset.len() {
        2 => (part(0)?, 0, 0),
        5 if offset[2] == b':' => (part(0)?, part(1)?, 0),
        8 if offset[2] == b':' && offset[5] == b':' => (part(0)?, part(1)?, part(2)?),
        _ => return None,
    };
    let east = oh * 3600 + om * 60 + os;
    if om >= 60 || os >= 60 || east >= i64::from(TZDISP_LIMIT) {
        return None;
    }
    let days = days_from_civil(year, month, day) - UNIX_EPOCH_DAYS;
    Some(Timestamp(
        days * USECS_PER_DAY + micros - sign * east * USECS_PER_SEC,
    ))
}

/// Years beyond any date or timestamp Postgres can hold are rejected early.
const MAX_YEAR: i64 = 10_000_000;

/// Parses a UTC offset, `+hh`, `-hh:mm` or `+hh:mm:ss`, into seconds east of UTC.
pub(super) fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match (text.strip_prefix('+'), text.strip_prefix('-')) {
        (Some(rest), _) => (1, rest),
        (_, Some(rest)) => (-1, rest),
        _ => return None,
    };
    let mut parts = rest.split(':');
    let hours: i32 = parse_digits(parts.next()?)?;
    let minutes: i32 = parts.next().map_or(Some(0), parse_digits)?;
    let seconds: i32 = parts.next().map_or(Some(0), parse_digits)?;
    if parts.next().is_some() || minutes >= 60 || seconds >= 60 {
        return None;
    }
    let total = hours
        .checked_mul(3600)?
        .checked_add(minutes * 60 + seconds)?;
    (total.unsigned_abs() < TZDISP_LIMIT).then_some(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_timestamptz_shape_reads_as_the_general_parser_does() {
        for text in [
            "2024-01-02 03:04:05+00",
            "2024-01-02 03:04:05.5+00",
            "2024-01-02 03:04:05.123456-08",
            "2024-02-29 23:59:59.999999+05:30",
            "1900-01-01 00:09:21+00:09:21",
            "1000-01-01 00:00:00-15:59:59",
            "9999-12-31 23:59:59.999999+15",
            "1969-12-31 23:59:59.9999+00",
        ] {
            let common = parse_tz_common(text.as_bytes());
            assert!(common.is_some(), "{text}");
            assert_eq!(common, Timestamp::parse_with(text, true), "{text}");
        }
        // Mutations (cut at every length, each byte replaced in turn): whatever the positional
        // reader takes, the general parser reads the same.
        for seed in [
            "2024-02-29 23:59:59.123456+05:30:15",
            "1999-12-31 00:00:00-08",
        ] {
            let seed = seed.as_bytes();
            let mut cases: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
            for i in 0..seed.len() {
                for &swap in b"0123456789-+:. xT" {
                    let mut v = seed.to_vec();
                    v[i] = swap;
                    cases.push(v);
                }
            }
            for case in cases {
                let text = String::from_utf8(case).unwrap();
                if let Some(common) = parse_tz_common(text.as_bytes()) {
                    assert_eq!(Some(common), Timestamp::parse_with(&text, true), "{text}");
                }
            }
        }
        // Other shapes are left to the general parser: an era, a 5-digit or short year,
        // infinity; and malformed text, which it rejects too.
        for text in [
            "0044-03-15 11:00:00-01 BC",
            "0999-01-01 00:00:00+00",
            "10000-01-01 00:00:00+00",
            "infinity",
            "2023-02-29 00:00:00+00",
            "2024-13-01 00:00:00+00",
            "2024-01-01 24:00:00+00",
            "2024-01-01 23:60:00+00",
            "2024-01-01 00:00:00.1234567+00",
            "2024-01-01 00:00:00.+00",
            "2024-01-01 00:00:00.12",
            "2024-01-01 00:00:00+16",
            "2024-01-01 00:00:00+1",
            "2024-01-01 00:00:00+01:60",
            "2024-01-01 00:00:00+01:00:",
            "2024-01-01 00:00:00 +00",
            "2024-01-01T00:00:00+00",
            "2024-01-01 0a:00:00+00",
            "2024-01-01 00:00:00+0a",
        ] {
            assert_eq!(parse_tz_common(text.as_bytes()), None, "{text}");
        }
    }
}
