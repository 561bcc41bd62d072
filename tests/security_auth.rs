//! Fake servers that try to take the password: SCRAM servers that cannot prove they know it
//! (wrong, missing or garbled verifiers, bad nonces, absurd iteration counts) are refused
//! before any rows reach the caller, and a URL that requires SCRAM or channel binding allows
//! no downgrade to cleartext, md5 or no authentication.

mod common;
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/scripted_server.rs"]
mod scripted_server;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use edgepg::proto::{AuthHints, AuthKind};
use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
use edgepg::{Client, ClientOptions, Config};
use scripted_server::{auth, ready, text_rows};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// Everything a fake server's clients sent, in arrival order.
type Seen = Rc<RefCell<Vec<u8>>>;

/// A fake server on a free port that records every byte its clients send. Each connection
/// goes to `serve` once its StartupMessage has arrived, with what followed it in `buf`.
async fn fake_server<F, Fut>(serve: F) -> (u16, Seen, tokio::task::JoinHandle<()>)
where
    F: Fn(TcpStream, Vec<u8>, Seen) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let record = seen.clone();
    let serve = Rc::new(serve);
    let task = tokio::task::spawn_local(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (seen, serve) = (record.clone(), serve.clone());
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
                serve(s, buf, seen).await;
            });
        }
    });
    (port, seen, task)
}

/// A server that speaks SCRAM without knowing the password. `first` shapes server-first
/// from the client nonce.
async fn fake_scram(
    first: fn(&str) -> String,
    last: Final,
) -> (u16, Seen, tokio::task::JoinHandle<()>) {
    fake_server(move |mut s, mut buf, seen| async move {
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
        reply.extend(ready());
        reply.extend(text_rows(&[b"fake"], b"SELECT 1"));
        let _ = s.write_all(&reply).await;
        let _ = read_until(&mut s, &mut buf, &seen, |_| false).await;
    })
    .await
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
async fn fake_asking(request: Vec<u8>) -> (u16, Seen, tokio::task::JoinHandle<()>) {
    fake_server(move |mut s, mut buf, seen| {
        let request = request.clone();
        async move {
            let _ = s.write_all(&request).await;
            let mut ok = auth(0, &[]);
            ok.extend(ready());
            // Whatever comes back (a password?) is recorded; then pretend success.
            let _ = read_until(&mut s, &mut buf, &seen, |b| !b.is_empty()).await;
            let _ = s.write_all(&ok).await;
            let _ = read_until(&mut s, &mut buf, &seen, |_| false).await;
        }
    })
    .await
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
