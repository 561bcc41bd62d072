//! Backend message framing with a size limit, and ErrorResponse field parsing.
//!
//! `postgres_protocol::message::backend::Message::parse` reserves whatever length a message
//! header claims before the body arrives; a hostile or broken server could make the client
//! allocate gigabytes. [`next_message`] checks the header against the configured maximum first.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{ErrorFields, Message};

use crate::error::{DbError, Error, Kind, Result};

/// The default largest backend message accepted: 64 MiB (one DataRow can hold a 1 GB field in
/// Postgres; raise `max_message_size` to read such rows).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Takes one complete message off the front of `buf`, or `None` if more bytes are needed.
pub fn next_message(buf: &mut BytesMut, max_size: usize) -> Result<Option<Message>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len < 4 {
        return Err(Error::protocol(format!(
            "the server sent a message with an invalid length ({len})"
        )));
    }
    if len > max_size {
        return Err(Error::new(
            Kind::TooLarge,
            format!(
                "the server sent a {len}-byte message, above max_message_size ({max_size}): raise \
                 max_message_size or select less data"
            ),
        ));
    }
    if buf.len() < len + 1 {
        return Ok(None);
    }
    Message::parse(buf).map_err(|e| {
        Error::protocol(format!(
            "the server sent a malformed message (tag {:?}): {e}",
            char::from(buf.first().copied().unwrap_or(b'?'))
        ))
    })
}

/// Collects every field of an ErrorResponse or NoticeResponse.
pub fn db_error(mut fields: ErrorFields<'_>) -> Result<DbError> {
    let mut e = DbError::default();
    let mut localized_severity = None;
    while let Some(field) = fields
        .next()
        .map_err(|e| Error::protocol(format!("malformed ErrorResponse: {e}")))?
    {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'S' => localized_severity = Some(value),
            b'V' => e.severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            b'H' => e.hint = Some(value),
            b'P' => e.position = value.parse().ok(),
            b'p' => e.internal_position = value.parse().ok(),
            b'q' => e.internal_query = Some(value),
            b'W' => e.where_ = Some(value),
            b's' => e.schema = Some(value),
            b't' => e.table = Some(value),
            b'c' => e.column = Some(value),
            b'd' => e.data_type = Some(value),
            b'n' => e.constraint = Some(value),
            b'F' => e.file = Some(value),
            b'L' => e.line = value.parse().ok(),
            b'R' => e.routine = Some(value),
            _ => {}
        }
    }
    if e.severity.is_empty() {
        e.severity = localized_severity.unwrap_or_else(|| String::from("ERROR"));
    }
    if e.code.is_empty() {
        e.code = String::from("XX000");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(buf: &mut BytesMut) -> Error {
        match next_message(buf, 1024) {
            Err(e) => e,
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn claimed_length_is_checked_before_allocation() {
        let mut buf = BytesMut::from(&b"D\x7f\xff\xff\xff"[..]);
        let err = err(&mut buf);
        assert_eq!(err.code(), "too_large");
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn invalid_length() {
        let mut buf = BytesMut::from(&b"Z\x00\x00\x00\x02I"[..]);
        assert_eq!(err(&mut buf).code(), "protocol");
    }

    #[test]
    fn unknown_tag_is_an_error() {
        let mut buf = BytesMut::from(&b"!\x00\x00\x00\x04"[..]);
        assert_eq!(err(&mut buf).code(), "protocol");
    }
}
