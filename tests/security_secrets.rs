//! Secrets and SQL text: passwords, connection URLs and proxy tokens never appear in errors,
//! `Debug` output, pool stats or events, and parameters (the JS `sql` template's
//! interpolations) are always bind values, never SQL text, on the wire and at the server.

mod common;
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/proxy.rs"]
mod proxy_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use common::*;
use edgepg::Config;
use edgepg::pool::PoolEvent;
use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::transport::Connector;
use edgepg::transport::websocket_native::WsConnector;
use proxy_support::{ProxyProcess, closed_port};
use tokio::net::TcpListener;

// ---- secrets in errors, Debug output and stats ----

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
        let err = connect_via(&proxy.connector(), &with_secret("127.0.0.1", 22, ""))
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
        let p = common::pool(good.clone(), at_most(1));
        let events = Rc::new(RefCell::new(Vec::<String>::new()));
        {
            let events = events.clone();
            p.add_listener(Rc::new(move |e: &PoolEvent| {
                events.borrow_mut().push(format!("{e:?}"));
            }));
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
