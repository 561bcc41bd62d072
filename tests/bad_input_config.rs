//! Bad input before the first query: malformed connection strings, refused credentials and
//! unknown databases, unsupported auth methods, TLS required but refused (the last two against
//! the scripted fake server in `tests/common/scripted_server.rs`).
//!
//! Each case must end in a clear error (code, kind, message), never a panic or a hang (every
//! test is bounded by a timeout), and leave no connection leaked (pool stats back to busy=0).

mod common;
#[path = "common/scripted_server.rs"]
mod scripted_server;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use common::*;
use edgepg::transport::{Connector, Transport};
use edgepg::{Config, Error, Outcome};
use futures_util::future::LocalBoxFuture;
use scripted_server::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- connection strings ----

#[test]
fn malformed_connection_strings_name_the_component_never_the_password() {
    // Two distinctive halves: a mis-split password may leak either one.
    let (a, b) = ("Alpha7734q", "Omega9921z");
    let cases: Vec<(String, &str)> = vec![
        (format!("mysql://u:{a}{b}@h/db"), "scheme"),
        (
            format!("postgres:/u:{a}{b}@h/db"),
            "URL starting with postgres://",
        ),
        (format!("postgres://u%zz:{a}{b}@h/db"), "user name"),
        (format!("postgres://u:{a}%zz{b}@h/db"), "password"),
        (format!("postgres://u:{a}%C3{b}@h/db"), "password"),
        (format!("postgres://:{a}{b}@h/db"), "no user"),
        (format!("postgres://u:{a}{b}@h st/db"), "host"),
        (format!("postgres://u:{a}{b}@h1,h2/db"), "multiple hosts"),
        (format!("postgres://u:{a}{b}@[::1/db"), "IPv6"),
        (format!("postgres://u:{a}{b}@[::1]x/db"), "IPv6"),
        (format!("postgres://u:{a}{b}@h:0/db"), "port"),
        (format!("postgres://u:{a}{b}@h:99999/db"), "port"),
        (format!("postgres://u:{a}{b}@h:/db"), "port"),
        (format!("postgres://u:{a}{b}@h/d%zz"), "database"),
        (format!("postgres://u:{a}{b}@h/db?sslmode=bogus"), "sslmode"),
        (
            format!("postgres://u:{a}{b}@h/db?channel_binding=x"),
            "channel_binding",
        ),
        (
            format!("postgres://u:{a}{b}@h/db?require_auth=gss"),
            "require_auth",
        ),
        (
            format!("postgres://u:{a}{b}@h/db?connect_timeout=soon"),
            "connect_timeout",
        ),
        (
            format!("postgres://u:{a}{b}@h/db?connect_timeout=-1"),
            "connect_timeout",
        ),
        (format!("postgres://u:{a}{b}@h/db?pool_max=0"), "pool_max"),
        (format!("postgres://u:{a}{b}@h/db?novalue"), "no value"),
        (format!("postgres://u:{a}{b}@h/db?k%zz=1"), "parameter name"),
        (format!("postgres://u:{a}{b}@h/db?host=/tmp"), "unix-domain"),
        (
            format!("postgres://u:{a}{b}@h/db?frobnicate=1"),
            "unknown connection parameter",
        ),
        // Unencoded reserved characters in the password split the URL in the wrong place.
        (format!("postgres://u:{a}/{b}@h/db"), "percent-encode"),
        (format!("postgres://u:{a}?{b}@h/db"), "percent-encode"),
        (format!("postgres://u:{a}#{b}@h/db"), "percent-encode"),
        (
            format!("postgres://u@h/db?password={a}&{b}"),
            "percent-encode",
        ),
        (
            format!("postgres://u@h/db?password={a}&{b}=1"),
            "percent-encode",
        ),
        // libpq key=value: an unquoted space ends the value.
        (format!("host=h user=u password={a} {b}"), "quote"),
        (format!("host=h user=u password={a} {b}=x"), "quote"),
        (format!("host=h user=u password='{a}{b}"), "unterminated"),
    ];
    let mut problems = Vec::new();
    for (text, expect) in &cases {
        let err = match Config::parse(text) {
            Err(e) => e,
            Ok(c) => panic!("{text:?} parsed: {c:?}"),
        };
        assert!(err.is_config(), "{text}: {err:?}");
        assert_eq!(err.code(), "config");
        assert_eq!(err.outcome(), Outcome::NotExecuted);
        let shown = format!("{err} | {err:?} | {}", err.message());
        if shown.contains(a) || shown.contains(b) {
            problems.push(format!("{text}: the error shows the password: {err}"));
        } else if !shown.contains(expect) {
            problems.push(format!("{text}: the error does not name {expect:?}: {err}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The same strings written correctly parse, and only Debug-redacted.
    let ok = Config::parse(&format!("postgres://u:{a}%2F{b}@h/db")).unwrap();
    assert_eq!(ok.password.as_deref(), Some(format!("{a}/{b}").as_str()));
    assert!(!format!("{ok:?}").contains(a));
    let ok = Config::parse(&format!("host=h user=u password='{a} {b}'")).unwrap();
    assert_eq!(ok.password.as_deref(), Some(format!("{a} {b}").as_str()));
}

#[test]
fn refused_credentials_and_unknown_databases_leave_the_pool_clean() {
    run(bounded("auth failures", 60, async {
        let cases: Vec<(Config, Vec<&str>)> = vec![
            (
                {
                    let mut c = config("EDGEPG_URL_SCRAM");
                    c.password = Some("Wr0ng-pa55-xyzzy".into());
                    c
                },
                vec!["28P01"],
            ),
            (
                {
                    let mut c = config("EDGEPG_URL_BOUNCER");
                    c.password = Some("Wr0ng-pa55-xyzzy".into());
                    c
                },
                vec!["08P01"],
            ),
            (
                {
                    let mut c = config("EDGEPG_URL_SCRAM");
                    c.user = "edgepg_no_such_role".into();
                    c.password = Some("Wr0ng-pa55-xyzzy".into());
                    c
                },
                vec!["28P01", "28000"],
            ),
            (
                {
                    let mut c = config("EDGEPG_URL_SCRAM");
                    c.database = "edgepg_no_such_db".into();
                    c
                },
                vec!["3D000"],
            ),
            (
                {
                    let mut c = config("EDGEPG_URL_BOUNCER");
                    c.database = "edgepg_no_such_db".into();
                    c
                },
                vec!["08P01", "3D000"],
            ),
        ];
        for (cfg, codes) in cases {
            let what = format!("{}@{}", cfg.user, cfg.display_target());
            let pool = pool(cfg, at_most(2));
            for _ in 0..3 {
                let err = pool.query(sql("SELECT 1")).await.unwrap_err();
                assert!(codes.contains(&err.code()), "{what}: {err:?}");
                assert!(!err.message().is_empty());
                let shown = format!("{err} {err:?}");
                assert!(!shown.contains("Wr0ng-pa55"), "{shown}");
                assert!(!shown.contains("scram_pw"), "{shown}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let s = pool.stats();
            assert_eq!(
                (s.busy, s.idle, s.open, s.waiting),
                (0, 0, 0, 0),
                "{what}: {s:?}"
            );
            assert_eq!(s.discarded, s.created, "{what}: {s:?}");
            pool.end().await;
        }
    }));
}

// ---- auth and TLS, against the scripted fake server ----

#[test]
fn unsupported_auth_methods_fail_without_sending_the_password() {
    run(bounded("unsupported auth", 30, async {
        let requests: Vec<(&str, Vec<u8>)> = vec![
            ("Kerberos", auth(2, &[])),
            ("SCM credentials", auth(6, &[])),
            ("GSSAPI", auth(7, &[])),
            ("SSPI", auth(9, &[])),
            ("GSS continue", auth(8, b"token")),
            ("SCRAM-PLUS only", auth(10, b"SCRAM-SHA-256-PLUS\0\0")),
            ("unknown SASL", auth(10, b"OAUTHBEARER\0\0")),
            ("unknown auth code", auth(99, &[])),
        ];
        for (what, request) in requests {
            let fake = Fake::start({
                let request = request.clone();
                move |_| {
                    vec![
                        Step::Startup(b'N'),
                        Step::Send(request.clone()),
                        Step::Stall,
                    ]
                }
            })
            .await;
            let pool = fake_pool(fake.url("sslmode=disable"));
            let err = bounded(what, 10, pool.query(sql("SELECT 1")))
                .await
                .unwrap_err();
            assert!(
                matches!(err.code(), "unsupported" | "protocol"),
                "{what}: {err:?}"
            );
            assert!(!err.message().is_empty());
            if err.code() == "unsupported" && what != "unknown SASL" && what != "SCRAM-PLUS only" {
                assert!(err.message().contains("pg_hba.conf"), "{what}: {err}");
            }
            let sent = fake.all_received();
            assert!(
                !sent.windows(14).any(|w| w == b"Fake-Secret-77"),
                "{what}: the password reached the server"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            let s = pool.stats();
            assert_eq!((s.busy, s.open), (0, 0), "{what}: {s:?}");
        }
    }));
}

/// A transport that offers STARTTLS but cannot do it (like a Workers socket whose TLS
/// upgrade fails), over tokio TCP.
struct StartTlsConnector;
struct StartTlsTransport(TcpStream);

impl Connector for StartTlsConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, edgepg::Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let s = TcpStream::connect((host, port))
                .await
                .map_err(|e| Error::from_message(format!("connect: {e}")))?;
            Ok(Box::new(StartTlsTransport(s)) as Box<dyn Transport>)
        })
    }
}

impl Transport for StartTlsTransport {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, edgepg::Result<()>> {
        Box::pin(async move {
            self.0
                .write_all(data)
                .await
                .map_err(|e| Error::from_message(e.to_string()))
        })
    }

    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, edgepg::Result<usize>> {
        Box::pin(async move {
            let mut chunk = [0u8; 8192];
            let n = self
                .0
                .read(&mut chunk)
                .await
                .map_err(|e| Error::from_message(e.to_string()))?;
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        })
    }

    fn start_tls(&mut self) -> LocalBoxFuture<'_, edgepg::Result<()>> {
        Box::pin(async { Err(Error::from_message("this test transport has no TLS")) })
    }

    fn security(&self) -> edgepg::proto::TransportSecurity {
        edgepg::proto::TransportSecurity::StartTls
    }

    fn close(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.0.shutdown().await;
        })
    }
}

#[test]
fn tls_required_but_refused_by_the_server() {
    run(bounded("TLS refused", 30, async {
        let fake = Fake::start(|_| {
            let mut ok = auth(0, &[]);
            ok.extend(ready());
            vec![Step::Startup(b'N'), Step::Send(ok), Step::Stall]
        })
        .await;
        for mode in ["require", "verify-ca", "verify-full"] {
            let err = connect_via(&StartTlsConnector, &fake.url(&format!("sslmode={mode}")))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "tls", "{mode}: {err:?}");
            assert!(err.message().contains("does not support TLS"), "{err}");
        }
        // Nothing but the SSLRequest went out: no StartupMessage, no password.
        let sent = fake.all_received();
        assert_eq!(sent.len(), 8 * 3, "{sent:?}");
        // prefer falls back to plain text on 'N' and connects.
        let c = connect_via(&StartTlsConnector, &fake.url("sslmode=prefer"))
            .await
            .unwrap();
        assert!(c.is_usable());
        // A server answering SSLRequest with garbage is a protocol error.
        let bad = Fake::start(|_| vec![Step::Startup(b'E'), Step::Stall]).await;
        let err = connect_via(&StartTlsConnector, &bad.url("sslmode=prefer"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "protocol", "{err:?}");
        // The server accepts TLS but the transport cannot: a clean error, not a hang.
        let yes = Fake::start(|_| vec![Step::Startup(b'S'), Step::Stall]).await;
        let err = connect_via(&StartTlsConnector, &yes.url("sslmode=require"))
            .await
            .unwrap_err();
        assert!(err.message().contains("no TLS"), "{err:?}");
    }));
}
