//! The one log line written per connection when it ends.
//!
//! It names the client address, the upstream, the bytes relayed each way, the duration and
//! how the connection ended. It never holds relayed bytes (queries, passwords) nor any part of
//! the request URL other than the upstream address, which is sanitized before printing.

use std::fmt;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// What is known about a connection when it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionReport {
    /// The client's socket address.
    pub client: SocketAddr,
    /// The upstream it asked for or was given (`-` if none was chosen).
    pub upstream: Option<String>,
    /// Bytes relayed client → upstream (WebSocket payload written to TCP).
    pub bytes_up: u64,
    /// Bytes relayed upstream → client (TCP bytes sent as WebSocket payload).
    pub bytes_down: u64,
    /// Milliseconds from accept to end.
    pub duration_ms: u64,
    /// How it ended, a fixed token such as `upstream-eof` or `client-close`.
    pub end: &'static str,
    /// A short explanation (an I/O error, a close code), when there is one.
    pub detail: Option<String>,
}

impl fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} edgepg-proxy: client={} upstream={} up={} down={} ms={} end={}",
            timestamp_now(),
            self.client,
            self.upstream
                .as_deref()
                .map(|u| sanitize(u).replace(' ', "?"))
                .unwrap_or_else(|| "-".into()),
            self.bytes_up,
            self.bytes_down,
            self.duration_ms,
            self.end,
        )?;
        if let Some(detail) = &self.detail {
            write!(f, " detail=\"{}\"", sanitize(detail))?;
        }
        Ok(())
    }
}

/// Writes one line to stderr (unbuffered, one `write` per line so concurrent lines do not
/// interleave).
pub fn log_line(line: impl fmt::Display) {
    use std::io::Write;
    let text = format!("{line}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `2026-11-25T10:04:05.123Z`, from the wall clock.
pub fn timestamp_now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    format_timestamp(ms)
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC.
fn format_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// At most 200 printable ASCII characters, `"` as `'`; anything else becomes `?` (no log
/// injection).
fn sanitize(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| match c {
            '"' => '\'',
            ' ' => ' ',
            c if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_timestamp(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }

    #[test]
    fn report_line_is_one_sanitized_line() {
        let report = ConnectionReport {
            client: "127.0.0.1:40000".parse().unwrap(),
            upstream: Some("evil\nhost:1 end=fake".into()),
            bytes_up: 10,
            bytes_down: 20,
            duration_ms: 3,
            end: "refused",
            detail: Some("HTTP \"403\"".into()),
        };
        let line = report.to_string();
        assert!(!line.contains('\n'));
        assert!(line.ends_with(
            "edgepg-proxy: client=127.0.0.1:40000 upstream=evil?host:1?end=fake up=10 down=20 \
             ms=3 end=refused detail=\"HTTP '403'\""
        ));
    }
}
