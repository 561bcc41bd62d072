//! The fuzzing harness of edgepg: one function per entry point, each taking arbitrary bytes.
//!
//! The cargo-fuzz targets in `fuzz_targets/` call these under libFuzzer; the stable-Rust
//! "fuzz smoke" test in `tests/bad_input_data.rs` includes this file (`#[path]`) and calls the
//! same functions with fixed-seed pseudo-random inputs. A panic anywhere is a finding: everything
//! here comes from the network or the user, and edgepg must never panic on it.
//!
//! Beyond "no panic", [`connection`] checks the state machine's contract: every submitted
//! request is completed exactly once, and once the connection is closed nothing is pending.

use std::collections::HashSet;

use bytes::BytesMut;
use edgepg::Config;
use edgepg::pool::PoolOptions;
use edgepg::proto::message::{db_error, next_message};
use edgepg::proto::types::{Format, Value, decode, oid};
use edgepg::proto::{
    AuthHints, AuthKind, ConnectOptions, Connection, Event, Request, RequestId, Statement,
    TransportSecurity,
};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;

/// Every OID the decoders know, their arrays, and a few they do not (text/raw fallbacks).
pub const OIDS: &[u32] = &[
    oid::BOOL,
    oid::BYTEA,
    oid::CHAR,
    oid::NAME,
    oid::INT8,
    oid::INT2,
    oid::INT4,
    oid::TEXT,
    oid::OID,
    oid::JSON,
    oid::FLOAT4,
    oid::FLOAT8,
    oid::UNKNOWN,
    oid::CIDR,
    oid::INET,
    oid::BPCHAR,
    oid::VARCHAR,
    oid::DATE,
    oid::TIME,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::INTERVAL,
    oid::TIMETZ,
    oid::NUMERIC,
    oid::UUID,
    oid::JSONB,
    oid::BOOL_ARRAY,
    oid::BYTEA_ARRAY,
    oid::CHAR_ARRAY,
    oid::NAME_ARRAY,
    oid::INT8_ARRAY,
    oid::INT2_ARRAY,
    oid::INT4_ARRAY,
    oid::TEXT_ARRAY,
    oid::OID_ARRAY,
    oid::JSON_ARRAY,
    oid::FLOAT4_ARRAY,
    oid::FLOAT8_ARRAY,
    oid::CIDR_ARRAY,
    oid::INET_ARRAY,
    oid::BPCHAR_ARRAY,
    oid::VARCHAR_ARRAY,
    oid::DATE_ARRAY,
    oid::TIME_ARRAY,
    oid::TIMESTAMP_ARRAY,
    oid::TIMESTAMPTZ_ARRAY,
    oid::INTERVAL_ARRAY,
    oid::TIMETZ_ARRAY,
    oid::NUMERIC_ARRAY,
    oid::UUID_ARRAY,
    oid::JSONB_ARRAY,
    600,  // point: unknown, text or raw
    1017, // point[]: an array of an unknown type
    0,
];

// ---- entry point 1: backend framing, message bodies and DataRow layout ----

/// `next_message` over arbitrary bytes (with a size limit chosen by the first byte), every
/// parsed message's fields read the way the connection reads them; then the rest of the input
/// as the body of a DataRow, checked by `Row::parse` (reached through a ready connection) and
/// decoded column by column.
pub fn backend_message(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let max = match selector % 4 {
        0 => 16,
        1 => 1024,
        2 => 1 << 20,
        _ => edgepg::proto::message::DEFAULT_MAX_MESSAGE_SIZE,
    };
    let mut buf = BytesMut::from(rest);
    for _ in 0..10_000 {
        match next_message(&mut buf, max) {
            Ok(Some(message)) => inspect(message),
            Ok(None) | Err(_) => break,
        }
    }
    // DataRow bodies: `columns` announced by RowDescription (mixed types and formats).
    let columns = (selector >> 2) as usize % 8;
    let mut conn = ready_connection(usize::MAX, u64::MAX);
    let id = conn.submit(Request::Simple("SELECT".into()), 0);
    let mut bytes = row_description(
        &(0..columns)
            .map(|i| {
                (
                    OIDS[(selector as usize + i * 7) % OIDS.len()],
                    (i % 2) as i16,
                )
            })
            .collect::<Vec<_>>(),
    );
    bytes.extend(message(b'D', rest));
    bytes.extend(message(b'C', b"SELECT 1\0"));
    bytes.extend(message(b'Z', b"I"));
    conn.handle_input(&bytes, 1);
    while let Some(event) = conn.poll_event() {
        if let Event::Complete {
            id: got,
            result: Ok(results),
        } = event
        {
            assert_eq!(got, id);
            for r in &results {
                let _ = r.decoded().map(|rows| {
                    rows.iter()
                        .flatten()
                        .map(|v| v.to_string().len())
                        .sum::<usize>()
                });
                for row in &r.rows {
                    assert_eq!(row.values().count(), row.len());
                }
            }
        }
    }
}

fn inspect(message: Message) {
    match message {
        Message::ErrorResponse(body) => {
            let _ = db_error(body.fields());
        }
        Message::NoticeResponse(body) => {
            let _ = db_error(body.fields());
        }
        Message::RowDescription(body) => drain(body.fields(), |f| {
            let _ = (f.name(), f.type_oid(), f.format());
        }),
        Message::DataRow(body) => drain(body.ranges(), |_| {}),
        Message::CommandComplete(body) => {
            let _ = body.tag();
        }
        Message::ParameterStatus(body) => {
            let _ = (body.name(), body.value());
        }
        Message::NotificationResponse(body) => {
            let _ = (body.channel(), body.message());
        }
        Message::AuthenticationSasl(body) => drain(body.mechanisms(), |_| {}),
        Message::ParameterDescription(body) => drain(body.parameters(), |_| {}),
        _ => {}
    }
}

/// Reads at most 100k items of a fallible iterator, stopping at its first error.
fn drain<I: FallibleIterator>(mut it: I, mut f: impl FnMut(I::Item)) {
    for _ in 0..100_000 {
        match it.next() {
            Ok(Some(item)) => f(item),
            _ => return,
        }
    }
}

// ---- entry point 2: value decoders ----

/// `decode` for an OID × format chosen by the first bytes (a known OID or any u32), with the
/// rest as the raw value; a decoded value is printed, re-encoded and decoded again.
pub fn type_decode(data: &[u8]) {
    let Some((oid, raw)) = oid_and_value(data) else {
        return;
    };
    let format = if data[1] & 1 == 1 {
        Format::Binary
    } else {
        Format::Text
    };
    let Ok(value) = decode(oid, format, raw) else {
        return;
    };
    let printed = value.to_string();
    let _ = (value.oid(), value.is_null(), printed.len());
    round_trip(&value);
}

/// The OID and the value an input names: byte 0 picks a known OID (below `4 × OIDS.len()`) or
/// says bytes 2..6 are any u32; byte 1 is the caller's (the format bit of [`type_decode`]).
fn oid_and_value(data: &[u8]) -> Option<(u32, &[u8])> {
    match data {
        [pick, _, raw @ ..] if (*pick as usize) < OIDS.len() * 4 => {
            Some((OIDS[*pick as usize % OIDS.len()], raw))
        }
        [_, _, a, b, c, d, raw @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), raw)),
        _ => None,
    }
}

fn round_trip(value: &Value) {
    if value.is_null() {
        return;
    }
    let mut buf = BytesMut::new();
    if value.encode_binary(&mut buf).is_ok() {
        let again = decode(value.oid(), Format::Binary, &buf);
        assert!(
            again.is_ok(),
            "{value:?} encodes to bytes its own decoder rejects: {again:?}"
        );
        if let Ok(again) = again {
            let _ = again.to_string();
        }
    }
}

// ---- entry point 5: the npm build's JSON path ----

/// `json_value` (the text-format value → JSON writer of the npm build) for an OID chosen as in
/// [`type_decode`], the rest as the value's text. What it writes must be exactly one JSON value
/// (but for `json`/`jsonb`, whose text it copies as the server sent it), and only `bytea`
/// values put bytes beside the text: their lengths in the JSON account for every byte.
pub fn json_value(data: &[u8]) {
    let Some((oid, raw)) = oid_and_value(data) else {
        return;
    };
    let Ok((text, bytes)) = edgepg::json_value(oid, raw) else {
        return;
    };
    let scalar = edgepg::proto::types::element_oid(oid).unwrap_or(oid);
    if scalar == oid::JSON || scalar == oid::JSONB {
        return;
    }
    let mut json = Json {
        s: text.as_bytes(),
        at: 0,
        numbers: Vec::new(),
    };
    assert!(
        json.value() && json.at == json.s.len(),
        "oid {oid}: {:?} is not one JSON value (from {:?})",
        text,
        String::from_utf8_lossy(raw)
    );
    if scalar == oid::BYTEA {
        let total: f64 = json.numbers.iter().sum();
        assert_eq!(
            total,
            bytes.len() as f64,
            "oid {oid}: {text:?} and {} bytes",
            bytes.len()
        );
    } else {
        assert!(bytes.is_empty(), "oid {oid}: bytes beside {text:?}");
    }
}

/// A strict JSON (RFC 8259) recognizer; `numbers` collects the numbers it read.
struct Json<'a> {
    s: &'a [u8],
    at: usize,
    numbers: Vec<f64>,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.s[self.at..].starts_with(word);
        if hit {
            self.at += word.len();
        }
        hit
    }

    fn value(&mut self) -> bool {
        match self.peek() {
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'"') => self.string(),
            Some(b'[') => {
                self.at += 1;
                if self.eat(b']') {
                    return true;
                }
                loop {
                    if !self.value() {
                        return false;
                    }
                    if self.eat(b']') {
                        return true;
                    }
                    if !self.eat(b',') {
                        return false;
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn string(&mut self) -> bool {
        self.at += 1;
        loop {
            match self.peek() {
                None | Some(0..=0x1f) => return false,
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            let hex = self.s.get(self.at + 1..self.at + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return false;
                            }
                            self.at += 5;
                        }
                        _ => return false,
                    }
                }
                Some(_) => self.at += 1,
            }
        }
    }

    fn number(&mut self) -> bool {
        let start = self.at;
        self.eat(b'-');
        let digits = |j: &mut Self| {
            let from = j.at;
            while j.peek().is_some_and(|b| b.is_ascii_digit()) {
                j.at += 1;
            }
            j.at - from
        };
        let first = self.peek();
        let whole = digits(self);
        if whole == 0 || (whole > 1 && first == Some(b'0')) {
            return false;
        }
        if self.eat(b'.') && digits(self) == 0 {
            return false;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if digits(self) == 0 {
                return false;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("x");
        match text.parse() {
            Ok(n) => {
                self.numbers.push(n);
                true
            }
            Err(_) => false,
        }
    }
}

// ---- entry point 3: connection strings ----

/// `Config::parse` on the input as text, raw or spliced into a URL / key=value skeleton;
/// a parsed config is printed, keyed and turned into pool options.
pub fn config_parse(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let candidates: Vec<String> = match mode % 4 {
        0 => vec![text.into_owned()],
        1 => {
            let parts: Vec<&str> = text.splitn(6, '\u{1}').collect();
            let p = |i: usize| parts.get(i).copied().unwrap_or("");
            vec![format!(
                "postgres://{}:{}@{}:{}/{}?{}",
                p(0),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5)
            )]
        }
        2 => vec![format!("postgresql://u:pw@h/db?{text}")],
        _ => vec![
            format!("host=h user=u {text}"),
            format!("postgres://{text}"),
        ],
    };
    for s in candidates {
        match Config::parse(&s) {
            Ok(config) => {
                let _ = format!("{config:?}");
                let _ = config.cache_key();
                let _ = config.display_target();
                let _ = config.ssl_required();
                let _ = PoolOptions::from_config(&config);
                assert!(!config.user.is_empty(), "a config always has a user");
                assert!(
                    !config.database.is_empty(),
                    "a config always has a database"
                );
                assert!(config.port != 0);
            }
            Err(e) => {
                assert!(e.is_config(), "{e:?}");
                let _ = (e.to_string(), format!("{e:?}"), e.code());
            }
        }
    }
}

// ---- entry point 4: the client state machine ----

/// `Connection` fed arbitrary server bytes in arbitrary chunks after an optional scripted
/// startup, with submits, timeouts, EOF, transport errors and closes interleaved. Checks
/// that every request completes exactly once and nothing is pending after close.
pub fn connection(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (setup, script, mut ops) = (data[0], data[1], &data[2..]);
    let url = match setup % 4 {
        0 => "postgres://u@h/db?sslmode=disable",
        1 => "postgres://u:pw@h/db?sslmode=prefer&connect_timeout=1",
        2 => "postgres://u:pw@h/db?sslmode=require&connect_timeout=2",
        _ => "postgres://u:pw@h/db?require_auth=scram-sha-256",
    };
    let Ok(config) = Config::parse(url) else {
        return;
    };
    let transport = match (setup >> 2) % 3 {
        0 => TransportSecurity::Plain,
        1 => TransportSecurity::StartTls,
        _ => TransportSecurity::Secure,
    };
    let hints = match (setup >> 4) % 3 {
        0 => AuthHints::default(),
        1 => AuthHints {
            method: Some(AuthKind::Trust),
            scram_keys: None,
        },
        _ => AuthHints {
            method: Some(AuthKind::Scram),
            scram_keys: None,
        },
    };
    let options = ConnectOptions {
        nonce: "fuzznonce0123456789".into(),
        hints,
        transport,
        max_message_size: if setup & 0x40 != 0 { 256 } else { 1 << 20 },
        max_result_bytes: if setup & 0x80 != 0 { 64 } else { usize::MAX },
        query_timeout_ms: if script & 0x80 != 0 { Some(50) } else { None },
        statement_cache: if script & 0x20 != 0 { 2 } else { 0 },
    };
    let mut now = 0u64;
    let mut conn = Connection::new(&config, options, now);
    let mut tracker = Tracker::default();
    let mut out = BytesMut::new();
    // The scripted part: what a well-behaved server answers first.
    let prefix: Vec<u8> = match script % 6 {
        0 => Vec::new(),
        1 => [b"N".to_vec(), after_auth()].concat(),
        2 => after_auth(),
        3 => [message(b'R', &3i32.to_be_bytes()), after_auth()].concat(),
        4 => [
            message(
                b'R',
                &[5i32.to_be_bytes().to_vec(), vec![1, 2, 3, 4]].concat(),
            ),
            after_auth(),
        ]
        .concat(),
        _ => message(
            b'R',
            &[10i32.to_be_bytes().to_vec(), b"SCRAM-SHA-256\0\0".to_vec()].concat(),
        ),
    };
    if script & 0x40 != 0 {
        tracker.submit(&mut conn, 0, now);
    }
    conn.handle_input(&prefix, now);
    tracker.pump(&mut conn, &mut out);
    let mut steps = 0;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        steps += 1;
        if steps > 500 {
            break;
        }
        match op {
            0..=5 => tracker.submit(&mut conn, op, now),
            6 | 7 => {
                now += u64::from(op - 5) * 40;
                if let Some(deadline) = conn.poll_timeout()
                    && op == 7
                {
                    now = now.max(deadline);
                }
                conn.handle_timeout(now);
            }
            8 => conn.handle_eof(),
            9 => conn.close(),
            10 => conn.handle_tls_established(now),
            11 => conn.handle_transport_error(edgepg::Error::from_message("transport")),
            _ => {
                let len = usize::from(op - 12).min(ops.len());
                let (chunk, rest) = ops.split_at(len);
                ops = rest;
                conn.handle_input(chunk, now);
                if script & 0x10 != 0 {
                    // A row sink's draining, as the driver does after each read.
                    while let Some(taken) = conn.take_rows(1) {
                        assert!(!taken.rows.is_empty(), "a take hands out rows");
                    }
                }
            }
        }
        tracker.pump(&mut conn, &mut out);
    }
    // The peer goes away: everything must be answered now.
    conn.handle_eof();
    tracker.pump(&mut conn, &mut out);
    assert!(conn.is_closed());
    assert_eq!(
        conn.poll_timeout(),
        None,
        "a closed connection has no deadline"
    );
    tracker.all_done();
    // A request after the close is answered at once.
    tracker.submit(&mut conn, 0, now);
    tracker.pump(&mut conn, &mut out);
    tracker.all_done();
}

#[derive(Default)]
struct Tracker {
    submitted: HashSet<RequestId>,
    completed: HashSet<RequestId>,
}

impl Tracker {
    fn submit(&mut self, conn: &mut Connection, kind: u8, now: u64) {
        let request = match kind {
            0 => Request::Simple("SELECT 1".into()),
            1 => Request::statement(Statement::new("SELECT $1").bind_text(Some("x"))),
            2 => Request::Extended(vec![
                Statement::new("SELECT 1"),
                Statement::new("SELECT 2").with_result_format(Format::Binary),
            ]),
            3 => Request::statement(
                Statement::new("SELECT $1::int4")
                    .bind(&Value::Int4(7))
                    .unwrap_or_else(|_| Statement::new("SELECT 7")),
            ),
            // Cannot be encoded: completed at once, without a write.
            4 => Request::Simple("SELECT '\0'".into()),
            _ => Request::Extended(Vec::new()),
        };
        let id = conn.submit(request, now);
        assert!(self.submitted.insert(id), "request ids are unique");
    }

    fn pump(&mut self, conn: &mut Connection, out: &mut BytesMut) {
        conn.poll_transmit(out);
        out.clear();
        while let Some(event) = conn.poll_event() {
            if let Event::Complete { id, result } = event {
                assert!(
                    self.submitted.contains(&id),
                    "completion of an unknown request"
                );
                assert!(self.completed.insert(id), "a request completed twice");
                if let Ok(results) = result {
                    for r in &results {
                        let _ = r.decoded();
                    }
                } else if let Err(e) = result {
                    let _ = (e.code().len(), e.to_string(), e.outcome(), e.is_fatal());
                }
            }
        }
        if conn.is_closed() {
            self.all_done();
        }
    }

    fn all_done(&self) {
        assert_eq!(
            self.submitted.len(),
            self.completed.len(),
            "the connection closed with requests never answered"
        );
    }
}

// ---- helpers: a connection in the Ready state, backend message builders ----

/// A trust connection that has received AuthenticationOk … ReadyForQuery.
pub fn ready_connection(max_result_bytes: usize, query_timeout_ms: u64) -> Connection {
    let config = Config::parse("postgres://u@h/db?sslmode=disable")
        .unwrap_or_else(|_| unreachable!("a fixed, valid URL"));
    let options = ConnectOptions {
        nonce: "n".into(),
        max_result_bytes,
        query_timeout_ms: (query_timeout_ms != u64::MAX).then_some(query_timeout_ms),
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&config, options, 0);
    conn.handle_input(&after_auth(), 0);
    while conn.poll_event().is_some() {}
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out);
    conn
}

/// One backend message: tag, length, body.
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// AuthenticationOk, one ParameterStatus, BackendKeyData, ReadyForQuery(I).
pub fn after_auth() -> Vec<u8> {
    let mut v = message(b'R', &0i32.to_be_bytes());
    v.extend(message(b'S', b"server_version\x0015.0\0"));
    v.extend(message(b'K', &[0, 0, 0, 7, 0, 0, 0, 9]));
    v.extend(message(b'Z', b"I"));
    v
}

/// A RowDescription of `(type oid, format)` columns named c0, c1, ….
pub fn row_description(columns: &[(u32, i16)]) -> Vec<u8> {
    let mut b = (columns.len() as u16).to_be_bytes().to_vec();
    for (i, (oid, format)) in columns.iter().enumerate() {
        b.extend(format!("c{i}\0").as_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend(oid.to_be_bytes());
        b.extend((-1i16).to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(format.to_be_bytes());
    }
    message(b'T', &b)
}
