//! Peers that stall, time out, vanish or hang up: fake servers on loopback that stall at
//! connect or on a query (connect, query and idle timeouts), a server-side
//! `idle_session_timeout`, a server that goes away for good so its connection cannot be
//! replaced, servers closing or failing during the handshake.
//!
//! Each ends in a clear error (or, where the pool can absorb it, none), never a hang or a
//! panic, and the pool's slots come back.

mod common;
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/scripted_server.rs"]
mod scripted_server;

use std::time::{Duration, Instant};

use common::*;
use edgepg::{Config, Outcome, PoolOptions};
use futures_util::future::join_all;
use scripted_server::{Fake, Step, msg, text_rows};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Waits until `f` holds (polling), failing after `secs`.
async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {secs}s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- stalled peers ----

/// A fake peer's script: accept, never answer.
fn stall() -> Vec<Step> {
    vec![Step::Stall]
}

/// A fake peer's script: a trust handshake, then stall on the first query.
fn hang() -> Vec<Step> {
    vec![
        Step::Startup(b'N'),
        Step::Send(harness::after_auth()),
        Step::Stall,
    ]
}

/// A fake peer's script: a trust handshake, then [`one_row`] for every query.
fn serve() -> Vec<Step> {
    vec![
        Step::Startup(b'N'),
        Step::Send(harness::after_auth()),
        Step::AnswerEachSync(one_row()),
    ]
}

/// An extended query's answer: one text row, `ok`.
fn one_row() -> Vec<u8> {
    text_rows(&[b"ok"], b"SELECT 1")
}

#[test]
fn stalled_peers_hit_connect_query_and_idle_timeouts() {
    run(bounded("stalled peers", 60, async {
        // connect_timeout: accepts, never answers.
        let silent = Fake::start(|_| stall()).await;
        let p = pool(
            silent.url("sslmode=disable&connect_timeout=0.5"),
            at_most(2),
        );
        let started = Instant::now();
        let err = p.query(sql("SELECT 1")).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(err.code(), "timeout");
        assert!(err.message().contains("connect_timeout"), "{err}");
        assert!(err.message().contains("127.0.0.1"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = p.stats();
        assert_eq!((s.busy, s.open, s.waiting), (0, 0, 0), "{s:?}");
        p.end().await;

        // query_timeout: connection 0 hangs on its query, the others answer. Two callers at
        // once: exactly one times out, the other is unaffected.
        let hang_first = Fake::start(|n| if n == 0 { hang() } else { serve() }).await;
        let p = pool(
            hang_first.url("sslmode=disable&query_timeout=0.5"),
            at_most(2),
        );
        let started = Instant::now();
        let results = join_all((0..2).map(|_| p.query(sql("SELECT 'v'")))).await;
        let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
        assert_eq!((ok.len(), failed.len()), (1, 1));
        let err = failed.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.code(), "timeout", "{err:?}");
        assert!(err.message().contains("query_timeout"), "{err}");
        assert_eq!(
            err.outcome(),
            Outcome::Unknown,
            "the statement may have run"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = p.stats();
        assert_eq!(s.discarded, 1, "{s:?}");
        assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
        // The next query runs on the healthy connection.
        assert_eq!(pool_scalar(&p, "SELECT 'v'").await, "ok");
        p.end().await;

        // idle_timeout: a connection to a peer that answered once and went quiet is retired
        // politely (Terminate) without anyone waiting on it.
        let quiet = Fake::start(|_| serve()).await;
        let p = pool(
            quiet.url("sslmode=disable"),
            PoolOptions {
                max: 2,
                idle_timeout: Duration::from_millis(300),
                ..Default::default()
            },
        );
        p.query(sql("SELECT 1")).await.unwrap();
        assert_eq!(p.stats().idle, 1);
        eventually("idle connection retired", 5, || {
            let s = p.stats();
            s.idle == 0 && s.open == 0
        })
        .await;
        assert_eq!(p.stats().discarded, 1);
        eventually("Terminate reached the peer", 5, || {
            quiet.received_by(0).ends_with(&[b'X', 0, 0, 0, 4])
        })
        .await;
        p.end().await;
    }));
}

#[test]
fn a_server_side_idle_session_timeout_is_absorbed_by_the_pool() {
    run(bounded("idle_session_timeout", 30, async {
        let mut cfg = config("EDGEPG_URL_SCRAM");
        cfg.options = Some("-c idle_session_timeout=300".into());
        let pool = pool(cfg.clone(), at_most(1));
        pool.query(sql("SELECT 1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        // The server closed the idle session (FATAL 57P05): noticed before anything is
        // written, replaced, the caller sees nothing.
        assert_eq!(pool_scalar(&pool, "SELECT 'fresh'").await, "fresh");
        let s = pool.stats();
        assert_eq!((s.created, s.discarded), (2, 1), "{s:?}");
        pool.end().await;
        // Without a pool the caller gets the server's reason, and knows nothing ran.
        let mut client = connect(&cfg).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let err = client.run(sql("SELECT 1")).await.unwrap_err();
        assert_eq!(err.code(), "57P05", "{err:?}");
        assert!(err.message().contains("idle-session timeout"), "{err}");
        assert_eq!(err.outcome(), Outcome::NotExecuted);
        assert!(client.is_closed());
    }));
}

// ---- a dead connection that cannot be replaced ----

#[test]
fn a_dead_connection_that_cannot_be_replaced_fails_cleanly() {
    // The server answers one query, then goes away for good: the pooled connection is dead
    // and a replacement cannot connect. Every later call must fail with an error (it used to
    // panic in the transaction's rollback), and the slot must come back.
    run(bounded("unreplaceable", 30, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::task::spawn_local(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            drop(listener);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut answered = 0;
            while answered < 2 {
                let k = s.read(&mut chunk).await.unwrap();
                assert!(k > 0);
                buf.extend_from_slice(&chunk[..k]);
                if answered == 0 && buf.len() >= 4 {
                    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    if buf.len() >= len {
                        buf.drain(..len);
                        s.write_all(&harness::after_auth()).await.unwrap();
                        answered = 1;
                    }
                }
                if answered == 1 && buf.windows(5).any(|w| w == b"S\0\0\0\x04") {
                    s.write_all(&one_row()).await.unwrap();
                    answered = 2;
                }
            }
            // Gone: the socket closes, and nothing listens on the port any more.
        });
        let cfg =
            Config::parse(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable")).unwrap();
        let p = pool(cfg, at_most(1));
        p.query(sql("SELECT 1")).await.unwrap();
        server.await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The idle connection is dead, its replacement cannot connect: a clean error.
        let mut tx = p.begin().await.unwrap();
        let err = tx.query(sql("SELECT 1")).await.unwrap_err();
        assert_eq!(err.code(), "refused", "{err:?}");
        assert_eq!(err.outcome(), Outcome::NotExecuted);
        // The transaction keeps answering with errors (it used to panic here, and in the
        // rollback `Pool::transaction` runs after a failed callback).
        let again = tx.query(sql("SELECT 2")).await.unwrap_err();
        assert!(again.is_closed(), "{again:?}");
        assert_eq!(again.outcome(), Outcome::NotExecuted);
        let _ = tx.status();
        assert!(tx.rollback().await.is_err());
        eventually("the slot came back", 5, || {
            let s = p.stats();
            (s.busy, s.open, s.waiting) == (0, 0, 0)
        })
        .await;
        p.end().await;
    }));
}

// ---- servers closing during the handshake ----

#[test]
fn a_server_closing_during_the_handshake_is_a_clean_error() {
    run(bounded("handshake closes", 30, async {
        let cases: Vec<(&str, Vec<u8>, bool, &[&str])> = vec![
            ("closes at once", vec![], false, &["closed", "refused"]),
            (
                "closes after the startup",
                vec![],
                true,
                &["closed", "refused"],
            ),
            (
                "half an auth request",
                msg(b'R', &3i32.to_be_bytes())[..6].to_vec(),
                true,
                &["closed", "refused"],
            ),
            (
                "AuthenticationOk only",
                msg(b'R', &0i32.to_be_bytes()),
                true,
                &["closed", "refused"],
            ),
            (
                "FATAL starting up",
                msg(
                    b'E',
                    b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0",
                ),
                true,
                &["57P03"],
            ),
            (
                "FATAL too many clients",
                msg(
                    b'E',
                    b"SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0",
                ),
                true,
                &["53300"],
            ),
        ];
        for (what, reply, read_startup, codes) in cases {
            // Reads the StartupMessage (or not), sends `reply`, hangs up.
            let fake = Fake::start(move |_| {
                if read_startup {
                    vec![Step::Startup(b'N'), Step::Send(reply.clone())]
                } else {
                    vec![]
                }
            })
            .await;
            let pool = pool(fake.url("sslmode=disable"), at_most(2));
            for _ in 0..3 {
                let err = pool.query(sql("SELECT 1")).await.unwrap_err();
                assert!(codes.contains(&err.code()), "{what}: {err:?}");
                assert!(err.is_closed() || err.is_fatal(), "{what}: {err:?}");
                assert!(!err.message().is_empty());
                assert!(!format!("{err:?}").contains("Fake-Secret-77"));
                if err.code() == "closed" {
                    assert!(err.message().contains("during startup"), "{what}: {err}");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let s = pool.stats();
            assert_eq!((s.busy, s.open, s.waiting), (0, 0, 0), "{what}: {s:?}");
        }
    }));
}
