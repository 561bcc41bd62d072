//! Transcript tests of the connection state machine: handshakes for every auth method with a
//! fixed nonce, responses split at every byte boundary, errors mid-pipeline, hostile input.

use bytes::BytesMut;

use crate::proto::config::Config;
use crate::proto::connection::{
    ConnectOptions, Connection, Event, TransactionStatus, TransportSecurity,
};
use crate::proto::query::{Request, Statement};
use crate::proto::scram::test_server_final;
use crate::proto::startup::{AuthHints, AuthKind};

const NONCE: &str = "fixedclientnonce0123";

// ---- backend message builders ----

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(extra);
    msg(b'R', &b)
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn after_auth() -> Vec<u8> {
    let mut v = auth(0, &[]);
    v.extend(msg(b'S', &[cstr("server_version"), cstr("15.18")].concat()));
    v.extend(msg(
        b'K',
        &[7i32.to_be_bytes(), 99i32.to_be_bytes()].concat(),
    ));
    v.extend(ready(b'I'));
    v
}

fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

fn row_description(columns: &[(&str, u32)]) -> Vec<u8> {
    let mut b = (columns.len() as u16).to_be_bytes().to_vec();
    for (name, oid) in columns {
        b.extend(cstr(name));
        b.extend(0u32.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend(oid.to_be_bytes());
        b.extend((-1i16).to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(0i16.to_be_bytes());
    }
    msg(b'T', &b)
}

fn data_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut b = (values.len() as u16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some(v) => {
                b.extend((v.len() as i32).to_be_bytes());
                b.extend(v.as_bytes());
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
    }
    msg(b'D', &b)
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}

fn error(severity: &str, code: &str, message: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (t, v) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        b.push(t);
        b.extend(cstr(v));
    }
    b.push(0);
    msg(b'E', &b)
}

/// Parse, Bind, RowDescription, rows, CommandComplete for one extended statement.
fn select_response(rows: &[&str]) -> Vec<u8> {
    let mut v = msg(b'1', &[]);
    v.extend(msg(b'2', &[]));
    v.extend(row_description(&[("n", 23)]));
    for r in rows {
        v.extend(data_row(&[Some(r)]));
    }
    v.extend(complete(&format!("SELECT {}", rows.len())));
    v
}

// ---- helpers ----

fn start(url: &str, hints: AuthHints) -> (Connection, BytesMut) {
    let config = Config::parse(url).unwrap();
    let options = ConnectOptions {
        nonce: NONCE.into(),
        hints,
        transport: TransportSecurity::Plain,
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&config, options, 0);
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out);
    (conn, out)
}

fn sent(conn: &mut Connection) -> BytesMut {
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out);
    out
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Splits a client byte stream into message tags (the first message of a fresh stream is the
/// untagged StartupMessage).
fn tags(mut bytes: &[u8], startup: bool) -> Vec<char> {
    let mut tags = Vec::new();
    if startup {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        tags.push('!');
        bytes = &bytes[len..];
    }
    while !bytes.is_empty() {
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        tags.push(bytes[0] as char);
        bytes = &bytes[len + 1..];
    }
    tags
}

fn sql(text: &str) -> Request {
    Request::statement(Statement::new(text))
}

// ---- handshakes ----

#[test]
fn trust_handshake() {
    let (mut conn, out) = start(
        "postgres://alice@db/app?application_name=t",
        AuthHints::default(),
    );
    assert_eq!(tags(&out, true), vec!['!']);
    let startup = String::from_utf8_lossy(&out);
    assert!(startup.contains("user\0alice\0database\0app\0"));
    assert!(startup.contains("application_name\0t\0"));
    conn.handle_input(&after_auth(), 1);
    assert!(matches!(events(&mut conn)[..], [Event::Ready]));
    assert!(conn.is_ready());
    assert_eq!(conn.backend_key(), Some((7, 99)));
    assert_eq!(conn.parameter("server_version"), Some("15.18"));
    assert_eq!(conn.learned_hints().method, Some(AuthKind::Trust));
}

#[test]
fn cleartext_handshake_sends_the_query_with_the_password() {
    let (mut conn, _) = start("postgres://alice:s3cret@db/app", AuthHints::default());
    let id = conn.submit(sql("SELECT 1"), 0);
    assert!(sent(&mut conn).is_empty(), "nothing before the server asks");
    conn.handle_input(&auth(3, &[]), 1);
    let out = sent(&mut conn);
    assert_eq!(tags(&out, false), vec!['p', 'P', 'B', 'D', 'E', 'S']);
    assert_eq!(&out[5..12], b"s3cret\0");
    let mut response = after_auth();
    response.extend(select_response(&["1"]));
    response.extend(ready(b'I'));
    conn.handle_input(&response, 2);
    let evs = events(&mut conn);
    assert!(matches!(evs[0], Event::Ready));
    match &evs[1] {
        Event::Complete {
            id: got,
            result: Ok(r),
        } => {
            assert_eq!(*got, id);
            assert_eq!(r[0].rows.len(), 1);
            assert_eq!(r[0].command, "SELECT 1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.learned_hints().method, Some(AuthKind::Cleartext));
}

#[test]
fn md5_handshake() {
    let (mut conn, _) = start("postgres://md5_user:md5_pw@db/app", AuthHints::default());
    conn.handle_input(&auth(5, &[1, 2, 3, 4]), 1);
    let out = sent(&mut conn);
    let expected =
        postgres_protocol::authentication::md5_hash(b"md5_user", b"md5_pw", [1, 2, 3, 4]);
    assert_eq!(&out[5..out.len() - 1], expected.as_bytes());
    conn.handle_input(&after_auth(), 2);
    assert!(conn.is_ready());
    assert_eq!(conn.learned_hints().method, Some(AuthKind::Md5));
}

fn scram_server_first() -> String {
    format!("r={NONCE}SERVERPART,s=c2FsdHNhbHRzYWx0,i=4096")
}

/// Runs a SCRAM exchange from the server side of `conn`; returns the client-final bytes.
fn serve_scram(conn: &mut Connection, mechanisms_already_sent: bool) -> BytesMut {
    if !mechanisms_already_sent {
        conn.handle_input(&auth(10, &[cstr("SCRAM-SHA-256"), vec![0]].concat()), 1);
        let out = sent(conn);
        assert_eq!(tags(&out, false), vec!['p']);
        assert!(String::from_utf8_lossy(&out).contains(&format!("n,,n=,r={NONCE}")));
    }
    conn.handle_input(&auth(11, scram_server_first().as_bytes()), 2);
    for event in events(conn) {
        if let Event::DeriveKey(request) = event {
            assert!(
                sent(conn).is_empty(),
                "client-final waits for the salted password"
            );
            conn.handle_salted_password(request.derive(), 2);
        }
    }
    sent(conn)
}

#[test]
fn scram_handshake_with_a_fixed_nonce_and_a_verified_server() {
    let (mut conn, _) = start("postgres://u:scram_pw@db/app", AuthHints::default());
    let id = conn.submit(sql("SELECT 1"), 0);
    let out = serve_scram(&mut conn, false);
    let first_final = out.clone();
    // client-final and the query travel together.
    assert_eq!(tags(&out, false), vec!['p', 'P', 'B', 'D', 'E', 'S']);
    let final_len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize - 4;
    let client_final = std::str::from_utf8(&out[5..5 + final_len]).unwrap();
    assert!(client_final.starts_with(&format!("c=biws,r={NONCE}SERVERPART,p=")));
    let server_final = test_server_final("scram_pw", NONCE, &scram_server_first(), client_final);
    let mut response = auth(12, server_final.as_bytes());
    response.extend(after_auth());
    response.extend(select_response(&["1"]));
    response.extend(ready(b'I'));
    conn.handle_input(&response, 3);
    let evs = events(&mut conn);
    assert!(matches!(&evs[1], Event::Complete { id: got, result: Ok(_) } if *got == id));
    let hints = conn.learned_hints();
    assert_eq!(hints.method, Some(AuthKind::Scram));
    assert_eq!(hints.scram_keys.as_ref().unwrap().iterations, 4096);

    // The same exchange with learned hints: startup + client-first in the first write.
    let (mut conn2, out) = start("postgres://u:scram_pw@db/app", hints.clone());
    assert_eq!(tags(&out, true), vec!['!', 'p']);
    conn2.submit(sql("SELECT 1"), 0);
    conn2.handle_input(&auth(10, &[cstr("SCRAM-SHA-256"), vec![0]].concat()), 1);
    assert!(sent(&mut conn2).is_empty(), "client-first already went out");
    let out2 = serve_scram(&mut conn2, true);
    assert_eq!(
        out2, first_final,
        "same nonce, same keys: same bytes (keys reused, no PBKDF2)"
    );
}

#[test]
fn scram_server_with_a_wrong_signature_is_rejected() {
    let (mut conn, _) = start("postgres://u:scram_pw@db/app", AuthHints::default());
    let id = conn.submit(sql("SELECT 1"), 0);
    serve_scram(&mut conn, false);
    conn.handle_input(
        &auth(12, b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        3,
    );
    assert!(conn.is_closed());
    assert!(conn.close_reason().unwrap().is_auth());
    let evs = events(&mut conn);
    assert!(matches!(&evs[0], Event::Complete { id: got, result: Err(_) } if *got == id));
}

#[test]
fn stale_scram_hint_is_detected() {
    let hints = AuthHints {
        method: Some(AuthKind::Scram),
        scram_keys: None,
    };
    let (mut conn, _) = start("postgres://u:pw@db/app", hints);
    conn.handle_input(&auth(5, &[1, 2, 3, 4]), 1);
    assert!(conn.is_closed());
    assert!(conn.failed_on_stale_hint());
}

#[test]
fn unsupported_and_refused_methods() {
    for (code, extra) in [(7, vec![]), (9, vec![]), (2, vec![])] {
        let (mut conn, _) = start("postgres://u:pw@db/app", AuthHints::default());
        conn.handle_input(&auth(code, &extra), 1);
        assert_eq!(conn.close_reason().unwrap().code(), "unsupported");
    }
    let (mut conn, _) = start("postgres://u:pw@db/app", AuthHints::default());
    conn.handle_input(
        &auth(10, &[cstr("SCRAM-SHA-256-PLUS"), vec![0]].concat()),
        1,
    );
    assert_eq!(conn.close_reason().unwrap().code(), "unsupported");
    let (mut conn, _) = start(
        "postgres://u:pw@db/app?require_auth=scram-sha-256",
        AuthHints::default(),
    );
    conn.handle_input(&auth(3, &[]), 1);
    assert!(conn.close_reason().unwrap().is_auth());
    assert!(sent(&mut conn).is_empty(), "the password is never sent");
}

#[test]
fn auth_error_from_the_server() {
    let (mut conn, _) = start("postgres://u:pw@db/app", AuthHints::default());
    conn.handle_input(&auth(3, &[]), 1);
    conn.handle_input(
        &error(
            "FATAL",
            "28P01",
            "password authentication failed for user \"u\"",
        ),
        2,
    );
    let err = conn.close_reason().unwrap();
    assert!(err.is_auth());
    assert_eq!(err.code(), "28P01");
}

// ---- responses ----

fn ready_conn() -> Connection {
    let (mut conn, _) = start("postgres://u@db/app", AuthHints::default());
    conn.handle_input(&after_auth(), 0);
    events(&mut conn);
    conn
}

/// Every response stream fed whole, split at every byte boundary, and byte by byte gives the
/// same events.
#[test]
fn responses_split_at_every_byte_boundary() {
    let mut stream = select_response(&["1", "2", "300"]);
    stream.extend(msg(
        b'N',
        &[
            b'S', b'N', b'O', b'T', b'I', b'C', b'E', 0, b'M', b'h', b'i', 0, 0,
        ],
    ));
    stream.extend(ready(b'I'));
    stream.extend(error("ERROR", "42703", "column \"nope\" does not exist"));
    stream.extend(ready(b'I'));
    stream.extend(select_response(&[]));
    stream.extend(ready(b'T'));

    let summarize = |conn: &mut Connection| -> Vec<String> {
        events(conn)
            .into_iter()
            .map(|e| match e {
                Event::Complete { result: Ok(r), .. } => {
                    format!("ok {} rows {}", r[0].command, r[0].rows.len())
                }
                Event::Complete { result: Err(e), .. } => format!("err {}", e.code()),
                Event::Notice(n) => format!("notice {}", n.message),
                other => format!("{other:?}"),
            })
            .collect()
    };
    let submit_three = |conn: &mut Connection| {
        for q in ["SELECT 1", "SELECT nope", "SELECT 2"] {
            conn.submit(sql(q), 0);
        }
    };

    let mut whole = ready_conn();
    submit_three(&mut whole);
    whole.handle_input(&stream, 1);
    let expected = summarize(&mut whole);
    assert_eq!(
        expected,
        vec![
            "notice hi",
            "ok SELECT 3 rows 3",
            "err 42703",
            "ok SELECT 0 rows 0"
        ]
    );
    assert_eq!(whole.transaction_status(), TransactionStatus::InTransaction);

    for split in 0..=stream.len() {
        let mut conn = ready_conn();
        submit_three(&mut conn);
        conn.handle_input(&stream[..split], 1);
        conn.handle_input(&stream[split..], 1);
        assert_eq!(summarize(&mut conn), expected, "split at {split}");
    }
    let mut conn = ready_conn();
    submit_three(&mut conn);
    for b in &stream {
        conn.handle_input(std::slice::from_ref(b), 1);
    }
    assert_eq!(summarize(&mut conn), expected);
}

#[test]
fn handshake_split_at_every_byte_boundary() {
    let mut stream = auth(3, &[]);
    stream.extend(after_auth());
    for split in 0..=stream.len() {
        let (mut conn, _) = start("postgres://u:pw@db/app", AuthHints::default());
        conn.handle_input(&stream[..split], 1);
        conn.handle_input(&stream[split..], 1);
        assert!(conn.is_ready(), "split at {split}");
    }
}

#[test]
fn error_mid_pipeline_fails_the_rest_of_the_request_cleanly() {
    let mut conn = ready_conn();
    let id = conn.submit(
        Request::Extended(vec![
            Statement::new("INSERT 1"),
            Statement::new("BAD"),
            Statement::new("INSERT 2"),
        ]),
        0,
    );
    let out = sent(&mut conn);
    assert_eq!(
        tags(&out, false).iter().filter(|t| **t == 'S').count(),
        1,
        "one Sync"
    );
    let mut response = msg(b'1', &[]);
    response.extend(msg(b'2', &[]));
    response.extend(msg(b'n', &[]));
    response.extend(complete("INSERT 0 1"));
    response.extend(error("ERROR", "42601", "syntax error"));
    response.extend(ready(b'I'));
    conn.handle_input(&response, 1);
    match &events(&mut conn)[..] {
        [
            Event::Complete {
                id: got,
                result: Err(e),
            },
        ] => {
            assert_eq!(*got, id);
            assert_eq!(e.code(), "42601");
        }
        other => panic!("{other:?}"),
    }
    assert!(conn.is_idle() && conn.is_ready());
}

#[test]
fn rows_are_taken_while_a_statement_runs_and_the_rest_stay_in_its_result() {
    let mut conn = ready_conn();
    let id = conn.submit(
        Request::Extended(vec![Statement::new("ROWS"), Statement::new("INSERT")]),
        0,
    );
    sent(&mut conn);
    let mut part = msg(b'1', &[]);
    part.extend(msg(b'2', &[]));
    part.extend(row_description(&[("n", 23)]));
    part.extend(data_row(&[Some("1")]));
    part.extend(data_row(&[Some("2")]));
    conn.handle_input(&part, 1);
    assert!(conn.take_rows(1000).is_none(), "fewer bytes than asked");
    let taken = conn.take_rows(1).expect("two rows held");
    assert_eq!((taken.id, taken.statement, taken.rows.len()), (id, 0, 2));
    assert_eq!(taken.columns[0].name, "n");
    assert!(conn.take_rows(1).is_none(), "nothing held after a take");
    // One more row, below the threshold when its statement completes: it stays in the result,
    // and the next statement (no rows) has nothing to take.
    let mut rest = data_row(&[Some("3")]);
    rest.extend(complete("SELECT 3"));
    rest.extend(msg(b'1', &[]));
    rest.extend(msg(b'2', &[]));
    rest.extend(msg(b'n', &[]));
    conn.handle_input(&rest, 2);
    assert!(
        conn.take_rows(1).is_none(),
        "held bytes belong to the finished statement"
    );
    let mut end = complete("INSERT 0 1");
    end.extend(ready(b'I'));
    conn.handle_input(&end, 3);
    match &events(&mut conn)[..] {
        [
            Event::Complete {
                result: Ok(results),
                ..
            },
        ] => {
            assert_eq!(results[0].rows.len(), 1, "the row after the take");
            assert_eq!(results[0].rows_affected, Some(3));
            assert!(results[1].rows.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fatal_error_and_eof_complete_everything_pending() {
    let mut conn = ready_conn();
    let a = conn.submit(sql("SELECT pg_sleep(10)"), 0);
    let b = conn.submit(sql("SELECT 2"), 0);
    conn.handle_input(
        &error(
            "FATAL",
            "57P01",
            "terminating connection due to administrator command",
        ),
        1,
    );
    let evs = events(&mut conn);
    assert_eq!(evs.len(), 2);
    assert!(
        matches!(&evs[0], Event::Complete { id, result: Err(e) } if *id == a && e.code() == "57P01")
    );
    assert!(matches!(&evs[1], Event::Complete { id, result: Err(e) } if *id == b && e.is_fatal()));
    assert!(conn.is_closed());
    // After close, new submissions fail at once, marked as not executed.
    let c = conn.submit(sql("SELECT 3"), 2);
    match &events(&mut conn)[..] {
        [Event::Complete { id, result: Err(e) }] => {
            assert_eq!(*id, c);
            assert_eq!(e.outcome(), crate::error::Outcome::NotExecuted);
        }
        other => panic!("{other:?}"),
    }

    let mut conn = ready_conn();
    conn.submit(sql("SELECT 1"), 0);
    conn.handle_input(&msg(b'1', &[]), 1);
    conn.handle_eof();
    assert!(
        matches!(&events(&mut conn)[..], [Event::Complete { result: Err(e), .. }] if e.code() == "closed")
    );
}

#[test]
fn query_timeout_closes_the_connection() {
    let config = Config::parse("postgres://u@db/app").unwrap();
    let options = ConnectOptions {
        query_timeout_ms: Some(100),
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&config, options, 0);
    conn.handle_input(&after_auth(), 0);
    events(&mut conn);
    conn.submit(sql("SELECT pg_sleep(1)"), 1000);
    assert_eq!(conn.poll_timeout(), Some(1100));
    conn.handle_timeout(1050);
    assert!(!conn.is_closed());
    conn.handle_timeout(1100);
    assert!(
        matches!(&events(&mut conn)[..], [Event::Complete { result: Err(e), .. }] if e.is_timeout())
    );
}

#[test]
fn connect_timeout_fires_before_ready() {
    let config = Config::parse("postgres://u@db/app?connect_timeout=2").unwrap();
    let mut conn = Connection::new(&config, ConnectOptions::default(), 10);
    assert_eq!(conn.poll_timeout(), Some(2010));
    conn.handle_timeout(2010);
    assert!(conn.close_reason().unwrap().is_timeout());
}

#[test]
fn malformed_server_messages_close_with_protocol_errors() {
    let cases: Vec<Vec<u8>> = vec![
        msg(b'D', &[0, 1, 0, 0, 0, 9, b'x']), // value overruns
        msg(b'Z', b"Q"),                      // unknown status
        msg(b'!', &[]),                       // unknown tag
        vec![b'D', 0, 0, 0, 1],               // length below 4
        data_row(&[Some("1")]),               // DataRow before RowDescription
        msg(b'C', &[0xff, 0xfe, 0]),          // invalid UTF-8 tag
        [
            row_description(&[("a", 23)]),
            data_row(&[Some("1"), Some("2")]),
        ]
        .concat(),
    ];
    for case in cases {
        let mut conn = ready_conn();
        conn.submit(sql("SELECT 1"), 0);
        conn.handle_input(&[msg(b'1', &[]), msg(b'2', &[]), case.clone()].concat(), 1);
        assert!(conn.is_closed(), "{case:?}");
        let code = conn.close_reason().unwrap().code().to_string();
        assert_eq!(code, "protocol", "{case:?}");
    }
}

#[test]
fn a_message_above_the_limit_is_refused_before_it_arrives() {
    let config = Config::parse("postgres://u@db/app").unwrap();
    let options = ConnectOptions {
        max_message_size: 1000,
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&config, options, 0);
    conn.handle_input(&after_auth(), 0);
    conn.submit(sql("SELECT big"), 0);
    conn.handle_input(&[b'D', 0x40, 0, 0, 0], 1);
    assert_eq!(conn.close_reason().unwrap().code(), "too_large");
}

#[test]
fn ssl_negotiation() {
    let config = Config::parse("postgres://u@db/app?sslmode=require").unwrap();
    let options = ConnectOptions {
        transport: TransportSecurity::StartTls,
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&config, options.clone(), 0);
    assert_eq!(&sent(&mut conn)[..], &[0, 0, 0, 8, 4, 210, 22, 47]);
    conn.handle_input(b"S", 1);
    assert!(matches!(events(&mut conn)[..], [Event::StartTls]));
    conn.handle_tls_established(2);
    assert_eq!(tags(&sent(&mut conn), true), vec!['!']);

    let mut conn = Connection::new(&config, options.clone(), 0);
    conn.handle_input(b"N", 1);
    assert_eq!(conn.close_reason().unwrap().code(), "tls");

    // Bytes injected after 'S' (CVE-2021-23222 style) are refused.
    let mut conn = Connection::new(&config, options, 0);
    conn.handle_input(b"SZ\0\0\0\x05I", 1);
    assert_eq!(conn.close_reason().unwrap().code(), "protocol");

    let prefer = Config::parse("postgres://u@db/app").unwrap();
    let plain = ConnectOptions {
        transport: TransportSecurity::StartTls,
        ..ConnectOptions::default()
    };
    let mut conn = Connection::new(&prefer, plain, 0);
    sent(&mut conn);
    conn.handle_input(b"N", 1);
    assert_eq!(
        tags(&sent(&mut conn), true),
        vec!['!'],
        "prefer falls back to plain"
    );
}

#[test]
fn close_sends_terminate_and_fails_pending() {
    let mut conn = ready_conn();
    conn.submit(sql("SELECT 1"), 0);
    sent(&mut conn);
    conn.close();
    assert_eq!(&sent(&mut conn)[..], &[b'X', 0, 0, 0, 4]);
    assert!(
        matches!(&events(&mut conn)[..], [Event::Complete { result: Err(e), .. }] if e.code() == "closed")
    );
}

#[test]
fn a_salted_password_nobody_asked_for_closes_the_connection() {
    let (mut conn, _) = start("postgres://u:scram_pw@db/app", AuthHints::default());
    conn.handle_salted_password([7; 32], 1);
    assert!(conn.is_closed());
    assert!(
        conn.close_reason()
            .unwrap()
            .message()
            .contains("out of order")
    );
}
