//! The WebSocket proxy (`edgepg-proxy`) against the real stack: the driver over
//! `WsConnector`, the allow list, fixed-upstream mode, failures and shutdown.

mod common;
#[path = "common/proxy.rs"]
mod proxy_support;

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use common::*;
use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::transport::tcp::TokioRuntime;
use edgepg::transport::websocket_native::WsConnector;
use edgepg::{Config, Pool};
use proxy_support::*;

/// A plain tokio-tungstenite client (no driver) for frame-level checks.
async fn raw_websocket(
    addr: &str,
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(url, tcp).await.unwrap().0
}

/// Fails the test instead of hanging.
async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[test]
fn driver_runs_queries_pipelines_and_100k_rows_through_the_proxy() {
    let proxy = ProxyProcess::for_stack(&[]);
    run(bounded("queries through the proxy", async {
        for var in ["EDGEPG_URL_BOUNCER", "EDGEPG_URL_SCRAM"] {
            let mut c = connect_via(&proxy.connector(), &config(var))
                .await
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(scalar(&mut c, "SELECT current_user").await, "edgepg_scram");

            let answers = c
                .run_pipeline(vec![sql("SELECT 1"), sql("SELECT nope"), sql("SELECT 3")])
                .await;
            assert_eq!(
                answers[0].as_ref().unwrap()[0].value(0, 0).unwrap(),
                Value::Int4(1)
            );
            assert_eq!(answers[1].as_ref().unwrap_err().code(), "42703");
            assert_eq!(
                answers[2].as_ref().unwrap()[0].value(0, 0).unwrap(),
                Value::Int4(3)
            );

            let stmt =
                Statement::new("SELECT i, 'row ' || i AS label FROM generate_series(1, 100000) i");
            let r = c.run(Request::statement(stmt)).await.unwrap();
            assert_eq!(r[0].rows.len(), 100_000);
            let sum: i64 = r[0]
                .decoded()
                .unwrap()
                .iter()
                .map(|row| match row[0] {
                    Value::Int4(i) => i as i64,
                    _ => 0,
                })
                .sum();
            assert_eq!(sum, 5_000_050_000);
            assert_eq!(
                r[0].value(99_999, 1).unwrap(),
                Value::Text("row 100000".into())
            );
            c.close().await;
        }
    }));
    // One line per connection, with byte counts and no secrets or SQL.
    for var in ["EDGEPG_URL_BOUNCER", "EDGEPG_URL_SCRAM"] {
        let upstream = stack_upstream(var);
        let lines = proxy.wait_for_log(&format!("upstream={upstream} "), 1);
        let line = &lines[0];
        assert!(field(line, "up").parse::<u64>().unwrap() > 100, "{line}");
        assert!(
            field(line, "down").parse::<u64>().unwrap() > 1_000_000,
            "{line}"
        );
        assert!(field(line, "ms").parse::<u64>().is_ok(), "{line}");
        assert!(
            ["client-close", "upstream-eof"].contains(&field(line, "end")),
            "{line}"
        );
    }
    let log = proxy.log().join("\n");
    for secret in [
        "scram_pw",
        "edgepg_scram",
        "generate_series",
        "current_user",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
}

#[test]
fn refused_upstreams_get_403_and_missing_addresses_400_before_the_upgrade() {
    let proxy = ProxyProcess::for_stack(&[]);
    let bouncer_port = config("EDGEPG_URL_BOUNCER").port;
    for path in [
        "/v2?address=127.0.0.1:22".to_string(),
        format!("/v2?address=localhost:{bouncer_port}"),
        format!("/other?address=10.0.0.1:{bouncer_port}"),
    ] {
        assert_eq!(
            status_line(&proxy.addr, &path),
            "HTTP/1.1 403 Forbidden",
            "{path}"
        );
    }
    for path in ["/v2", "/v2?address=", "/v2?address=nohost", "/v2?x=1"] {
        assert_eq!(
            status_line(&proxy.addr, path),
            "HTTP/1.1 400 Bad Request",
            "{path}"
        );
    }
    let full = http_request(&proxy.addr, "/v2?address=127.0.0.1:22", true);
    assert!(full.ends_with("upstream not on the allow list\n"), "{full}");
    // Not a WebSocket request at all.
    let plain = http_request(&proxy.addr, "/v2", false);
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
    // Allowed, percent-encoded the way URLSearchParams writes it: upgraded.
    let encoded = format!("/v2?address=127.0.0.1%3A{bouncer_port}");
    assert_eq!(
        status_line(&proxy.addr, &encoded),
        "HTTP/1.1 101 Switching Protocols"
    );
    proxy.wait_for_log("end=refused detail=\"HTTP 403\"", 3);

    // The driver sees a connect error that says what to do.
    run(bounded("a refused connect", async {
        let cfg = Config::parse("postgres://u:p@127.0.0.1:22/db").unwrap();
        let err = connect_via(&proxy.connector(), &cfg).await.unwrap_err();
        assert_eq!(err.code(), "refused", "{err:?}");
        assert!(err.message().contains("403"), "{err}");
        assert!(err.message().contains("--allow"), "{err}");
    }));
}

#[test]
fn fixed_upstream_mode_works_without_an_address() {
    let bouncer = stack_upstream("EDGEPG_URL_BOUNCER");
    let proxy = ProxyProcess::spawn(&["--upstream".into(), bouncer.clone()]);
    run(bounded("fixed upstream", async {
        let connector = WsConnector::new(format!("ws://{}/", proxy.addr));
        let mut c = connect_via(&connector, &config("EDGEPG_URL_BOUNCER"))
            .await
            .unwrap();
        assert_eq!(scalar(&mut c, "SELECT 6 * 7").await, "42");
        c.close().await;
    }));
    proxy.wait_for_log(&format!("upstream={bouncer} "), 1);
    // Without --allow, only the upstream may be named.
    let direct = stack_upstream("EDGEPG_URL_SCRAM");
    assert_eq!(
        status_line(&proxy.addr, &format!("/v2?address={direct}")),
        "HTTP/1.1 403 Forbidden"
    );
}

#[test]
fn unreachable_upstream_is_a_clean_error_not_a_hang() {
    let port = closed_port();
    let proxy = ProxyProcess::spawn(&["--allow".into(), format!("127.0.0.1:{port}")]);
    run(bounded("an unreachable upstream", async {
        let cfg = Config::parse(&format!("postgres://u:p@127.0.0.1:{port}/db")).unwrap();
        let err = connect_via(&proxy.connector(), &cfg).await.unwrap_err();
        assert!(err.is_closed(), "{err:?}");
        assert!(err.message().contains("upstream unreachable"), "{err}");
    }));
    proxy.wait_for_log("end=upstream-unreachable", 1);
}

#[test]
fn a_silent_upstream_hits_the_connect_timeout() {
    // A listener that never accepts, with its accept queue full: further SYNs go
    // unanswered, so connecting to it hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    run(async {
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let _listener = socket.listen(0).unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let attempt = tokio::net::TcpStream::connect(("127.0.0.1", port));
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(300), attempt).await {
                held.push(s);
            }
        }
        let proxy = ProxyProcess::spawn(&[
            "--allow".into(),
            format!("127.0.0.1:{port}"),
            "--connect-timeout".into(),
            "0.5".into(),
        ]);
        let cfg = Config::parse(&format!("postgres://u:p@127.0.0.1:{port}/db")).unwrap();
        let started = Instant::now();
        let err = bounded("a silent upstream", connect_via(&proxy.connector(), &cfg))
            .await
            .unwrap_err();
        assert!(err.message().contains("upstream unreachable"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let line = &proxy.wait_for_log("end=upstream-unreachable", 1)[0];
        assert!(line.contains("no answer within 0.5s"), "{line}");
    });
}

#[test]
fn killing_the_proxy_fails_the_next_query_as_closed() {
    let mut proxy = ProxyProcess::for_stack(&[]);
    run(bounded("a killed proxy", async {
        let mut c = connect_via(&proxy.connector(), &config("EDGEPG_URL_BOUNCER"))
            .await
            .unwrap();
        assert_eq!(scalar(&mut c, "SELECT 1").await, "1");
        proxy.kill();
        let err = c.run(sql("SELECT 2")).await.unwrap_err();
        assert_eq!(err.code(), "closed", "{err:?}");
        assert!(c.is_closed());
    }));
}

#[test]
fn sigterm_closes_connections_with_1001_and_exits_promptly() {
    let mut proxy = ProxyProcess::for_stack(&[]);
    run(bounded("a stopping proxy", async {
        let mut c = connect_via(&proxy.connector(), &config("EDGEPG_URL_SCRAM"))
            .await
            .unwrap();
        assert_eq!(scalar(&mut c, "SELECT 1").await, "1");
        let status = proxy.signal_and_wait("TERM", Duration::from_secs(5));
        assert!(status.success(), "{status:?}");
        let err = c.run(sql("SELECT 2")).await.unwrap_err();
        assert_eq!(err.code(), "closed", "{err:?}");
    }));
    let log = proxy.log().join("\n");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("end=shutdown"), "{log}");
}

#[test]
fn raw_websocket_frames_text_ping_size_and_upstream_eof() {
    let proxy = ProxyProcess::for_stack(&["--max-message-size", "1KiB"]);
    let url = format!(
        "{}?address={}",
        proxy.ws_base(),
        stack_upstream("EDGEPG_URL_SCRAM")
    );
    run(bounded("raw frames", async {
        let close_code = |m: Option<Result<Message, _>>| match m {
            Some(Ok(Message::Close(Some(f)))) => f.code,
            other => panic!("expected a close frame, got {other:?}"),
        };
        // A text frame is refused with 1003.
        let mut ws = raw_websocket(&proxy.addr, &url).await;
        ws.send(Message::text("SELECT 1")).await.unwrap();
        assert_eq!(close_code(ws.next().await), CloseCode::Unsupported);

        // Ping gets a pong; a frame over the limit is closed with 1009.
        let mut ws = raw_websocket(&proxy.addr, &url).await;
        ws.send(Message::Ping(vec![1, 2, 3].into())).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], [1, 2, 3]),
            other => panic!("expected a pong, got {other:?}"),
        }
        ws.send(Message::binary(vec![0u8; 4096])).await.unwrap();
        assert_eq!(close_code(ws.next().await), CloseCode::Size);

        // An unsupported protocol version: Postgres answers and hangs up; the proxy relays
        // the answer, then closes with 1000.
        let mut ws = raw_websocket(&proxy.addr, &url).await;
        ws.send(Message::binary(vec![0, 0, 0, 8, 0, 9, 0, 0]))
            .await
            .unwrap();
        let mut answer = Vec::new();
        let code = loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => answer.extend_from_slice(&b),
                other => break close_code(other),
            }
        };
        assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
        assert_eq!(code, CloseCode::Normal);
    }));
    proxy.wait_for_log("end=text-frame", 1);
    proxy.wait_for_log("end=too-big", 1);
    proxy.wait_for_log("end=upstream-eof", 1);
}

#[test]
fn pool_of_five_runs_200_concurrent_queries_through_the_proxy() {
    let proxy = ProxyProcess::for_stack(&[]);
    run(bounded("the pool", async {
        let pool = Pool::new(
            config("EDGEPG_URL_BOUNCER"),
            at_most(5),
            Rc::new(proxy.connector()),
            TokioRuntime::shared(),
        );
        let queries = (0..200).map(|i| {
            let pool = pool.clone();
            async move {
                let r = pool.query(sql(&format!("SELECT {i}"))).await?;
                assert_eq!(r[0].value(0, 0)?.to_string(), i.to_string());
                Ok::<(), edgepg::Error>(())
            }
        });
        let results = join_all(queries).await;
        let failures: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            failures.first()
        );
        let stats = pool.stats();
        assert_eq!(stats.busy, 0, "{stats:?}");
        assert!(stats.open <= 5 && stats.created <= 5, "{stats:?}");
        pool.end().await;
    }));
}

#[test]
fn bad_flags_and_a_busy_port_exit_with_clear_messages() {
    let exe = env!("CARGO_BIN_EXE_edgepg-proxy");
    let out = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: edgepg-proxy"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    for (args, code, needle) in [
        (vec!["--bogus"], 2, "unknown argument"),
        (vec![], 2, "nothing to relay to"),
        (vec!["--allow", "no-port"], 2, "not HOST:PORT"),
        (
            vec!["--upstream", "127.0.0.1:1", "--listen", &busy_addr],
            1,
            "cannot listen",
        ),
    ] {
        let out = std::process::Command::new(exe)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
