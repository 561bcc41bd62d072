//! Security properties: what the proxy relays to, what errors and `Debug` output may show,
//! parameters never becoming SQL text, SCRAM servers that cannot prove the password, and no
//! downgrade from SCRAM when the connection string forbids it.
//!
//! (tests/proxy.rs covers the basic allow list; here only the address tricks it does not.)

mod common;
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/proxy.rs"]
mod proxy_support;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use common::*;
use edgepg::pool::PoolEvent;
use edgepg::proto::types::Value;
use edgepg::proto::{AuthHints, AuthKind, Request, Statement};
use edgepg::proxy::allow::{AllowList, Refusal, Upstream, choose_upstream};
use edgepg::transport::Connector;
use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
use edgepg::transport::websocket_native::WsConnector;
use edgepg::{Client, ClientOptions, Config, PoolOptions};
use proxy_support::{ProxyProcess, closed_port, http_request, stack_upstream, status_line};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn bounded<F: Future>(what: &str, secs: u64, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs}s (a hang)"),
    }
}

// ---- the proxy's allow list: address tricks ----

fn up(text: &str) -> Upstream {
    Upstream::parse(text).unwrap_or_else(|| panic!("{text} parses"))
}

#[test]
fn the_allow_list_matches_exactly_and_refuses_address_tricks() {
    let mut allow = AllowList::default();
    for a in [
        "127.0.0.1:55432",
        "localhost:56432",
        "[::1]:55432",
        "db.internal:5432",
    ] {
        allow.insert(up(a));
    }
    // (address parameter value as sent, expected: Ok(upstream) or the HTTP status)
    let cases: &[(&str, Result<&str, u16>)] = &[
        ("127.0.0.1:55432", Ok("127.0.0.1:55432")),
        ("127.0.0.1%3A55432", Ok("127.0.0.1:55432")),
        ("%31%32%37.0.0.1:55432", Ok("127.0.0.1:55432")),
        // A leading zero names the same port: the same upstream.
        ("127.0.0.1:055432", Ok("127.0.0.1:55432")),
        // Names and addresses are matched as written, never resolved.
        ("LOCALHOST:56432", Ok("localhost:56432")),
        ("localhost:55432", Err(403)),
        ("127.0.0.1:56432", Err(403)),
        ("localhost.:56432", Err(403)),
        ("db.internal:5432", Ok("db.internal:5432")),
        ("DB.Internal:5432", Ok("db.internal:5432")),
        ("db.internal.:5432", Err(403)),
        ("db.internal.evil.example:5432", Err(403)),
        ("evil.example:5432", Err(403)),
        // Other spellings of 127.0.0.1.
        ("127.1:55432", Err(403)),
        ("2130706433:55432", Err(403)),
        ("0x7f.0.0.1:55432", Err(403)),
        ("0177.0.0.1:55432", Err(403)),
        ("127.000.000.001:55432", Err(403)),
        // Userinfo, paths and NULs smuggled into the host or port.
        ("evil.example@127.0.0.1:55432", Err(400)),
        ("127.0.0.1%40evil.example:55432", Err(400)),
        ("127.0.0.1%2F@evil.example:55432", Err(400)),
        ("127.0.0.1:55432@evil.example:80", Err(400)),
        ("127.0.0.1:55432%2Fx", Err(400)),
        ("127.0.0.1:55432%2F", Err(400)),
        ("127.0.0.1:55432%00", Err(400)),
        ("127.0.0.1%00.evil:55432", Err(400)),
        ("127.0.0.1:55432%20", Err(400)),
        ("127.0.0.1%0D%0AHost:%20x:55432", Err(400)),
        ("127.0.0.1:55432#frag", Err(400)),
        ("127.0.0.1:+55432", Err(400)),
        ("127.0.0.1:-1", Err(400)),
        ("127.0.0.1:0", Err(400)),
        ("127.0.0.1:65536", Err(400)),
        ("127.0.0.1:5543200000", Err(400)),
        ("127.0.0.1:%35%35%34%33%32", Ok("127.0.0.1:55432")),
        ("%zz:55432", Err(400)),
        // IPv6: brackets required, literal spelling only.
        ("[::1]:55432", Ok("[::1]:55432")),
        ("%5B::1%5D:55432", Ok("[::1]:55432")),
        ("[0:0:0:0:0:0:0:1]:55432", Err(403)),
        ("[::ffff:127.0.0.1]:55432", Err(403)),
        ("[::FFFF:7f00:1]:55432", Err(403)),
        ("::1:55432", Err(400)),
        ("[::1]55432", Err(400)),
        ("[::1%25lo]:55432", Err(400)),
        ("[[::1]]:55432", Err(400)),
        ("[127.0.0.1]:55432", Err(400)),
    ];
    let long = format!("{}.example:5432", "a".repeat(260));
    let mut all: Vec<(String, Result<&str, u16>)> =
        cases.iter().map(|(a, e)| (a.to_string(), *e)).collect();
    all.push((long, Err(400)));
    for (address, expected) in &all {
        let got = choose_upstream(Some(&format!("address={address}")), None, &allow);
        match (expected, &got) {
            (Ok(want), Ok(u)) => assert_eq!(u.to_string(), *want, "{address}"),
            (Err(status), Err(r)) => {
                assert_eq!(r.status(), *status, "{address}: {r:?}");
                assert!(
                    !r.body().contains(address.as_str()),
                    "the body echoes {address}"
                );
            }
            _ => panic!("{address}: expected {expected:?}, got {got:?}"),
        }
    }
    // Two addresses, even equal ones, are refused; other keys are ignored, never decoded
    // into an address: with a fixed upstream they go there, without one nowhere.
    let fixed = up("127.0.0.1:55432");
    for q in [
        "address=127.0.0.1:55432&address=10.0.0.1:22",
        "address=127.0.0.1:55432&address=127.0.0.1:55432",
        "address=10.0.0.1:22&address=127.0.0.1:55432",
    ] {
        assert_eq!(
            choose_upstream(Some(q), Some(&fixed), &allow),
            Err(Refusal::BadAddress)
        );
    }
    for q in [
        "Address=10.0.0.1:22",
        "addr%65ss=10.0.0.1:22",
        "address%3D10.0.0.1:22",
        "%61ddress=10.0.0.1:22",
        "address[]=10.0.0.1:22",
    ] {
        assert_eq!(
            choose_upstream(Some(q), Some(&fixed), &allow),
            Ok(fixed.clone()),
            "{q}"
        );
        assert_eq!(
            choose_upstream(Some(q), None, &allow),
            Err(Refusal::NoUpstream),
            "{q}"
        );
    }
    assert_eq!(
        choose_upstream(Some("x=1&address=10.0.0.1:22"), Some(&fixed), &allow)
            .map_err(|r| r.status()),
        Err(403)
    );
}

#[test]
fn the_running_proxy_refuses_address_tricks_before_the_upgrade() {
    let proxy = ProxyProcess::for_stack(&[]);
    let bouncer = stack_upstream("EDGEPG_URL_BOUNCER");
    let port = bouncer.rsplit(':').next().unwrap().to_string();
    for (path, status) in [
        (format!("/v2?address={bouncer}"), "101"),
        (format!("/v2?address=127.0.0.1%3A0{port}"), "101"),
        (format!("/v2?address=localhost:{port}"), "403"),
        (format!("/v2?address=127.1:{port}"), "403"),
        (format!("/v2?address=[::ffff:127.0.0.1]:{port}"), "403"),
        (format!("/v2?address=evil.example@{bouncer}"), "400"),
        (format!("/v2?address={bouncer}%2F@evil.example:80"), "400"),
        (format!("/v2?address={bouncer}%00"), "400"),
        (format!("/v2?address={bouncer}&address=10.0.0.1:22"), "400"),
        ("/v2?Address=10.0.0.1:22".to_string(), "400"),
        ("/%2e%2e/v2?address=10.0.0.1:22".to_string(), "403"),
    ] {
        let line = status_line(&proxy.addr, &path);
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {line}"
        );
        if status != "101" {
            let full = http_request(&proxy.addr, &path, true);
            assert!(
                !full.contains("evil"),
                "{path}: the response echoes it: {full}"
            );
        }
    }
    // The proxy's log names refused upstreams only in their parsed form: the raw text of a
    // malformed address is never logged.
    std::thread::sleep(Duration::from_millis(200));
    let log = proxy.log().join("\n");
    assert!(!log.contains("evil"), "{log}");
}

// ---- secrets in errors, Debug output and stats ----

const SECRET: &str = "Sup3r-S3cret-pw";

fn leaks(text: &str) -> Option<&'static str> {
    if text.contains(SECRET) {
        Some("the password")
    } else if text.contains("postgres://") || text.contains("postgresql://") {
        Some("a connection URL")
    } else {
        None
    }
}

fn assert_clean(what: &str, err: &edgepg::Error) {
    for text in [
        err.to_string(),
        format!("{err:?}"),
        err.message().to_string(),
    ] {
        if let Some(leak) = leaks(&text) {
            panic!("{what}: the error shows {leak}: {text}");
        }
    }
}

#[test]
fn passwords_and_urls_never_appear_in_errors_debug_output_or_stats() {
    run(bounded("secrets", 60, async {
        let base = config("EDGEPG_URL_SCRAM");
        let with_secret = |host: &str, port: u16, query: &str| {
            Config::parse(&format!(
                "postgres://edgepg_scram:{SECRET}@{host}:{port}/edgepg?{query}"
            ))
            .unwrap()
        };
        // Config: Debug redacts; display_target has no password.
        let cfg = with_secret(&base.host, base.port, "application_name=s");
        assert!(leaks(&format!("{cfg:?}")).is_none(), "{cfg:?}");
        assert!(leaks(&cfg.display_target()).is_none());

        // A closed port, a silent server, a wrong password (direct and PgBouncer), TLS
        // required on a plain transport.
        let closed = closed_port();
        let err = connect(&with_secret("127.0.0.1", closed, ""))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "refused");
        assert_clean("closed port", &err);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = listener.local_addr().unwrap().port();
        let hold = tokio::task::spawn_local(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let err = connect(&with_secret("127.0.0.1", silent, "connect_timeout=0.3"))
            .await
            .unwrap_err();
        assert!(err.is_timeout());
        assert_clean("connect timeout", &err);
        hold.abort();
        let bouncer = config("EDGEPG_URL_BOUNCER");
        for (host, port) in [(&base.host, base.port), (&bouncer.host, bouncer.port)] {
            let err = connect(&with_secret(host, port, "")).await.unwrap_err();
            assert!(err.is_auth(), "{err:?}");
            assert_clean("wrong password", &err);
        }
        let err = connect(&with_secret(&base.host, base.port, "sslmode=require"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "tls");
        assert_clean("tls", &err);

        // Through a proxy that refuses the upstream.
        let proxy = ProxyProcess::for_stack(&[]);
        let err = proxy_support::connect_via(&proxy.connector(), &with_secret("127.0.0.1", 22, ""))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "refused");
        assert_clean("proxy 403", &err);

        // A WebSocket URL with a token in it is not echoed either.
        let token = "Pr0xyT0ken-xyz";
        for template in [
            format!(
                "ws://user:{token}@127.0.0.1:{closed}/v2?token={token}&address={{host}}:{{port}}"
            ),
            format!("ws://user:{token}@[bad/v2?token={token}"),
            format!("http://127.0.0.1:{closed}/v2?token={token}"),
            format!("wss://127.0.0.1:{closed}/v2?token={token}"),
        ] {
            let c = WsConnector::new(template.clone());
            let err = match c.connect("127.0.0.1", 5432).await {
                Err(e) => e,
                Ok(_) => panic!("{template} connected"),
            };
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(token), "{template}: {shown}");
        }

        // A pool: its stats, options and events; a client and its learned keys.
        let good = config("EDGEPG_URL_SCRAM");
        let p = common::pool(
            good.clone(),
            PoolOptions {
                max: 1,
                ..Default::default()
            },
        );
        let events = Rc::new(RefCell::new(Vec::<String>::new()));
        {
            let events = events.clone();
            p.set_listener(Some(Rc::new(move |e: &PoolEvent| {
                events.borrow_mut().push(format!("{e:?}"));
            })));
        }
        let r = p.query(sql("SELECT pg_backend_pid()")).await.unwrap();
        let pid = r[0].value(0, 0).unwrap().to_string();
        psql(&format!("SELECT pg_terminate_backend({pid})"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        p.query(sql("SELECT 1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let events = events.borrow().join("\n");
        assert!(events.contains("Error("), "{events}");
        for text in [
            events.clone(),
            format!("{:?}", p.stats()),
            format!("{:?}", p.options()),
            format!("{:?}", p.config()),
        ] {
            assert!(!text.contains("scram_pw"), "{text}");
            assert!(leaks(&text).is_none(), "{text}");
        }
        let client = connect(&good).await.unwrap();
        let hints = client.learned_hints().clone();
        let keys = hints.scram_keys.clone().expect("SCRAM keys");
        for text in [format!("{client:?}"), format!("{hints:?}")] {
            assert!(!text.contains("scram_pw"), "{text}");
            assert!(!text.contains(&format!("{:?}", keys.client_key)), "{text}");
            assert!(!text.contains(&format!("{:?}", keys.server_key)), "{text}");
            assert!(!text.contains(&STANDARD.encode(keys.client_key)), "{text}");
        }
        client.close().await;
        p.end().await;
    }));
}

// ---- parameters never become SQL text ----

/// What the JS `sql` tagged template does: literal parts joined by `$1, $2, …`, every
/// interpolation a parameter.
fn template(parts: &[&str], values: &[Value]) -> Statement {
    assert_eq!(parts.len(), values.len() + 1);
    let mut text = parts[0].to_string();
    for (i, part) in parts[1..].iter().enumerate() {
        text.push_str(&format!("${}{part}", i + 1));
    }
    values
        .iter()
        .fold(Statement::new(text), |s, v| s.bind(v).unwrap())
}

/// The frontend messages in `bytes` (no StartupMessage): (tag, body).
fn frontend_messages(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 5 {
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        out.push((bytes[0], bytes[5..1 + len].to_vec()));
        bytes = &bytes[1 + len..];
    }
    out
}

fn cstr(body: &[u8], at: &mut usize) -> Vec<u8> {
    let end = body[*at..].iter().position(|&b| b == 0).unwrap() + *at;
    let s = body[*at..end].to_vec();
    *at = end + 1;
    s
}

/// The parameter values of a Bind body.
fn bind_values(body: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut at = 0;
    cstr(body, &mut at);
    cstr(body, &mut at);
    let formats = i16::from_be_bytes([body[at], body[at + 1]]) as usize;
    at += 2 + 2 * formats;
    let n = i16::from_be_bytes([body[at], body[at + 1]]) as usize;
    at += 2;
    (0..n)
        .map(|_| {
            let len = i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            at += 4;
            (len >= 0).then(|| {
                let v = body[at..at + len as usize].to_vec();
                at += len as usize;
                v
            })
        })
        .collect()
}

const HOSTILE: &[&str] = &[
    "'); DROP TABLE users; --",
    "' OR 1=1 --",
    "$1",
    "${1}",
    "$2; SELECT pg_sleep(10)",
    "\\'; SELECT 1; --",
    "' || pg_sleep(10) || '",
    "E'\\x27'",
    "*/ SELECT 1 /*",
    "\u{2019}; SELECT 1",
    "\0' ; SELECT 1",
];

#[test]
fn hostile_template_values_are_bind_values_never_sql_text() {
    // On the wire: the Parse message carries only the template text with $n.
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let statement = template(
            &["SELECT * FROM t WHERE name = ", " AND n = ", ""],
            &[Value::Text(hostile.to_string()), Value::Int4(i as i32)],
        );
        let mut conn = harness::ready_connection(usize::MAX, u64::MAX);
        conn.submit(Request::statement(statement), 1);
        let mut out = BytesMut::new();
        conn.poll_transmit(&mut out);
        let messages = frontend_messages(&out);
        let tags: Vec<u8> = messages.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, b"PBDES".to_vec());
        let parse = &messages[0].1;
        let mut at = 0;
        assert_eq!(cstr(parse, &mut at), b"", "the unnamed statement");
        let text = cstr(parse, &mut at);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "SELECT * FROM t WHERE name = $1 AND n = $2"
        );
        let values = bind_values(&messages[1].1);
        assert_eq!(values[0].as_deref(), Some(hostile.as_bytes()));
        assert_eq!(values[1].as_deref(), Some(&(i as i32).to_be_bytes()[..]));
    }
    // At the server: current_query() is the template, the values come back intact.
    run(bounded("hostile values at the server", 30, async {
        let mut client = connect(&config("EDGEPG_URL_SCRAM")).await.unwrap();
        for hostile in HOSTILE.iter().filter(|h| !h.contains('\0')) {
            let statement = template(
                &["SELECT current_query(), ", "::text, ", "::text"],
                &[
                    Value::Text(hostile.to_string()),
                    Value::Text(format!("x{hostile}")),
                ],
            );
            let r = client.run(Request::statement(statement)).await.unwrap();
            let seen = r[0].value(0, 0).unwrap().to_string();
            assert_eq!(seen, "SELECT current_query(), $1::text, $2::text");
            assert_eq!(r[0].value(0, 1).unwrap().to_string(), *hostile);
            assert_eq!(r[0].value(0, 2).unwrap().to_string(), format!("x{hostile}"));
        }
        client.close().await;
    }));
}

// ---- fake servers for SCRAM and downgrades ----

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    harness::message(tag, body)
}

fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    msg(b'R', &[&code.to_be_bytes()[..], extra].concat())
}

/// Reads from `s` into `buf` (and the shared record) until `done(buf)`; false on EOF.
async fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    seen: &RefCell<Vec<u8>>,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let mut chunk = [0u8; 8192];
    while !done(buf) {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => {
                buf.extend_from_slice(&chunk[..k]);
                seen.borrow_mut().extend_from_slice(&chunk[..k]);
            }
        }
    }
    true
}

/// Length of the first complete message in `buf` (StartupMessage if `untagged`).
fn first_message(buf: &[u8], untagged: bool) -> Option<usize> {
    if untagged {
        (buf.len() >= 4)
            .then(|| u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize)
            .filter(|&l| buf.len() >= l)
    } else {
        (buf.len() >= 5)
            .then(|| u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1)
            .filter(|&l| buf.len() >= l)
    }
}

/// How a fake SCRAM server ends the exchange.
#[derive(Clone, Copy, Debug)]
enum Final {
    /// `v=` with a signature of 32 wrong bytes, then AuthenticationOk and rows anyway.
    WrongSignature,
    /// `e=invalid-proof`.
    ServerError,
    /// `v=` that is not base64.
    Garbage,
    /// No `v=` at all.
    Missing,
}

/// A server that speaks SCRAM without knowing the password. `first` shapes server-first
/// from the client nonce.
async fn fake_scram(
    first: fn(&str) -> String,
    last: Final,
) -> (u16, Rc<RefCell<Vec<u8>>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::task::spawn_local(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = record.clone();
            tokio::task::spawn_local(async move {
                let mut buf = Vec::new();
                if !read_until(&mut s, &mut buf, &seen, |b| {
                    first_message(b, true).is_some()
                })
                .await
                {
                    return;
                }
                let n = first_message(&buf, true).unwrap();
                buf.drain(..n);
                let _ = s.write_all(&auth(10, b"SCRAM-SHA-256\0\0")).await;
                if !read_until(&mut s, &mut buf, &seen, |b| {
                    first_message(b, false).is_some()
                })
                .await
                {
                    return;
                }
                let n = first_message(&buf, false).unwrap();
                let body = buf[5..n].to_vec();
                buf.drain(..n);
                // SASLInitialResponse: mechanism\0, int32 length, client-first.
                let mech_end = body.iter().position(|&b| b == 0).unwrap();
                let client_first = String::from_utf8_lossy(&body[mech_end + 5..]).into_owned();
                let nonce = client_first.rsplit("r=").next().unwrap_or("").to_string();
                let server_first = first(&nonce);
                let _ = s.write_all(&auth(11, server_first.as_bytes())).await;
                if !read_until(&mut s, &mut buf, &seen, |b| {
                    first_message(b, false).is_some()
                })
                .await
                {
                    return;
                }
                let server_final = match last {
                    Final::WrongSignature => format!("v={}", STANDARD.encode([7u8; 32])),
                    Final::ServerError => "e=invalid-proof".to_string(),
                    Final::Garbage => "v=***not base64***".to_string(),
                    Final::Missing => "x=1".to_string(),
                };
                let mut reply = auth(12, server_final.as_bytes());
                // An impostor carries on as if all were well.
                reply.extend(auth(0, &[]));
                reply.extend(msg(b'Z', b"I"));
                reply.extend(msg(b'1', &[]));
                reply.extend(msg(b'2', &[]));
                reply.extend(harness::row_description(&[(25, 0)]));
                reply.extend(msg(b'D', &[0, 1, 0, 0, 0, 4, b'f', b'a', b'k', b'e']));
                reply.extend(msg(b'C', b"SELECT 1\0"));
                reply.extend(msg(b'Z', b"I"));
                let _ = s.write_all(&reply).await;
                let _ = read_until(&mut s, &mut buf, &seen, |_| false).await;
            });
        }
    });
    (port, seen, task)
}

#[test]
fn a_scram_server_that_cannot_prove_the_password_is_refused() {
    run(bounded("fake SCRAM", 60, async {
        let good_first: fn(&str) -> String =
            |nonce| format!("r={nonce}srvNONCE,s={},i=4096", STANDARD.encode(b"salt"));
        // (what, server-first from the client nonce, server-final, codes, words in the message)
        type Case = (
            &'static str,
            fn(&str) -> String,
            Final,
            &'static [&'static str],
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "wrong v=",
                good_first,
                Final::WrongSignature,
                &["auth_failed"],
                "does not verify",
            ),
            (
                "e=",
                good_first,
                Final::ServerError,
                &["auth_failed"],
                "invalid-proof",
            ),
            (
                "garbage v=",
                good_first,
                Final::Garbage,
                &["auth_failed", "protocol"],
                "verifier",
            ),
            (
                "no v=",
                good_first,
                Final::Missing,
                &["auth_failed", "protocol"],
                "verifier",
            ),
            (
                "nonce not extended",
                |_| format!("r=someoneelse,s={},i=4096", STANDARD.encode(b"salt")),
                Final::WrongSignature,
                &["auth_failed", "protocol"],
                "nonce",
            ),
            (
                "nonce unchanged",
                |nonce| format!("r={nonce},s={},i=4096", STANDARD.encode(b"salt")),
                Final::WrongSignature,
                &["auth_failed", "protocol"],
                "nonce",
            ),
            (
                "100M iterations",
                |nonce| format!("r={nonce}x,s={},i=100000000", STANDARD.encode(b"salt")),
                Final::WrongSignature,
                &["auth_failed", "protocol"],
                "iteration",
            ),
        ];
        for (what, first, last, codes, words) in cases {
            let (port, seen, task) = fake_scram(first, last).await;
            let cfg = Config::parse(&format!(
                "postgres://alice:{SECRET}@127.0.0.1:{port}/db?sslmode=disable"
            ))
            .unwrap();
            let started = Instant::now();
            // A query pipelined with the handshake must not get the impostor's rows.
            let mut client = Client::open(
                &cfg,
                ClientOptions::default(),
                &TcpConnector,
                TokioRuntime::shared(),
            )
            .await
            .unwrap();
            let err = client.run(sql("SELECT secret FROM t")).await.unwrap_err();
            assert!(codes.contains(&err.code()), "{what}: {err:?}");
            assert!(err.message().contains(words), "{what}: {err}");
            assert!(client.is_closed(), "{what}");
            assert!(started.elapsed() < Duration::from_secs(5), "{what}: spun");
            assert_clean(what, &err);
            let sent = seen.borrow().clone();
            assert!(
                !sent.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{what}: the password went to the server"
            );
            task.abort();
        }
    }));
}

/// A server that asks for `request` and records what it gets.
async fn fake_asking(request: Vec<u8>) -> (u16, Rc<RefCell<Vec<u8>>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::task::spawn_local(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = record.clone();
            let request = request.clone();
            tokio::task::spawn_local(async move {
                let mut buf = Vec::new();
                if !read_until(&mut s, &mut buf, &seen, |b| {
                    first_message(b, true).is_some()
                })
                .await
                {
                    return;
                }
                let _ = s.write_all(&request).await;
                let mut ok = auth(0, &[]);
                ok.extend(msg(b'Z', b"I"));
                // Whatever comes back (a password?) is recorded; then pretend success.
                let _ = read_until(&mut s, &mut buf, &seen, |b| {
                    b.len() > first_message(b, true).unwrap_or(0)
                })
                .await;
                let _ = s.write_all(&ok).await;
                let _ = read_until(&mut s, &mut buf, &seen, |_| false).await;
            });
        }
    });
    (port, seen, task)
}

#[test]
fn no_downgrade_from_scram_when_the_url_forbids_it() {
    run(bounded("downgrades", 60, async {
        let asks: Vec<(&str, Vec<u8>)> = vec![
            ("cleartext", auth(3, &[])),
            ("md5", auth(5, &[1, 2, 3, 4])),
            ("no authentication", auth(0, &[])),
            (
                "SCRAM without channel binding",
                auth(10, b"SCRAM-SHA-256\0\0"),
            ),
        ];
        for query in ["require_auth=scram-sha-256", "channel_binding=require"] {
            for (what, request) in &asks {
                if *what == "SCRAM without channel binding" && query.starts_with("require_auth") {
                    continue; // that is what require_auth=scram-sha-256 asks for
                }
                for hints in [
                    AuthHints::default(),
                    AuthHints {
                        method: Some(AuthKind::Scram),
                        scram_keys: None,
                    },
                ] {
                    let (port, seen, task) = fake_asking(request.clone()).await;
                    let cfg = Config::parse(&format!(
                        "postgres://alice:{SECRET}@127.0.0.1:{port}/db?sslmode=disable&{query}"
                    ))
                    .unwrap();
                    let mut client = Client::open(
                        &cfg,
                        ClientOptions {
                            hints: hints.clone(),
                            ..Default::default()
                        },
                        &TcpConnector,
                        TokioRuntime::shared(),
                    )
                    .await
                    .unwrap();
                    let err = client.run(sql("SELECT 1")).await.unwrap_err();
                    let label =
                        format!("{query}, server asks for {what}, hints {:?}", hints.method);
                    assert!(
                        matches!(err.code(), "auth_failed" | "unsupported" | "protocol"),
                        "{label}: {err:?}"
                    );
                    assert!(client.is_closed(), "{label}");
                    assert_clean(&label, &err);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let sent = seen.borrow().clone();
                    assert!(
                        !sent.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                        "{label}: the password reached the server"
                    );
                    let md5 = postgres_protocol::authentication::md5_hash(
                        b"alice",
                        SECRET.as_bytes(),
                        [1, 2, 3, 4],
                    );
                    assert!(
                        !sent.windows(md5.len()).any(|w| w == md5.as_bytes()),
                        "{label}: the md5 hash reached the server"
                    );
                    // No query was sent to the unauthenticated server either.
                    assert!(!sent.windows(8).any(|w| w == b"SELECT 1"), "{label}");
                    task.abort();
                }
            }
        }
        // Without require_auth the server chooses: a cleartext request is answered with the
        // password, as libpq does. (Use TLS, or require_auth, against untrusted networks.)
        let (port, seen, task) = fake_asking(auth(3, &[])).await;
        let cfg = Config::parse(&format!(
            "postgres://alice:{SECRET}@127.0.0.1:{port}/db?sslmode=disable"
        ))
        .unwrap();
        let _ = connect(&cfg).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            seen.borrow()
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes()),
            "the default accepts what the server asks"
        );
        task.abort();
    }));
}
