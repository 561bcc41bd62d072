//! Bad input from the user and from the server: malformed connection strings, refused
//! credentials, unsupported auth, TLS refused, wrong parameter types, SQL errors in every
//! pipeline position, huge rows and results, invalid UTF-8, hostile parameters, and a
//! deterministic fuzz smoke test of the four fuzzed entry points.
//!
//! Each case must end in a clear error (code, kind, message), never a panic or a hang (every
//! test is bounded by a timeout), and leave no connection leaked (pool stats back to busy=0).

mod common;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use edgepg::proto::types::{Format, Value, oid};
use edgepg::proto::{Param, Request, Statement};
use edgepg::transport::tcp::TokioRuntime;
use edgepg::transport::{Connector, Transport};
use edgepg::{Client, ClientOptions, Config, Error, Outcome, Pool, PoolOptions};
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Tests that measure this process's memory run one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

async fn bounded<F: Future>(what: &str, secs: u64, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs}s (a hang)"),
    }
}

fn direct_pool(max: usize) -> Pool {
    pool(
        config("EDGEPG_URL_SCRAM"),
        PoolOptions {
            max,
            ..Default::default()
        },
    )
}

fn assert_settled(pool: &Pool, what: &str) {
    let s = pool.stats();
    assert_eq!((s.busy, s.waiting), (0, 0), "{what}: {s:?}");
    assert!(s.open <= pool.options().max, "{what}: {s:?}");
}

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
            let pool = pool(
                cfg,
                PoolOptions {
                    max: 2,
                    ..Default::default()
                },
            );
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

// ---- fake servers ----

/// One step of a fake server's script for a connection.
#[derive(Clone, Debug)]
enum Step {
    /// Reads the StartupMessage, answering an SSLRequest before it with this byte.
    Startup(u8),
    /// Reads client messages until one with this tag arrived.
    Until(u8),
    /// Writes these bytes.
    Send(Vec<u8>),
    /// Holds the socket open, reading and recording whatever arrives.
    Stall,
}

/// A fake Postgres server on 127.0.0.1: each accepted connection runs `script(n)` (n counts
/// connections from 0) and everything it receives is recorded.
struct Fake {
    port: u16,
    received: Rc<RefCell<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start(script: impl Fn(usize) -> Vec<Step> + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Rc::new(RefCell::new(Vec::new()));
        let log = received.clone();
        let task = tokio::task::spawn_local(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                log.borrow_mut().push(Vec::new());
                let steps = script(n);
                let log = log.clone();
                tokio::task::spawn_local(serve(stream, steps, log, n));
                n += 1;
            }
        });
        Fake {
            port,
            received,
            task,
        }
    }

    fn url(&self, query: &str) -> Config {
        Config::parse(&format!(
            "postgres://fake:Fake-Secret-77@127.0.0.1:{}/db?{query}",
            self.port
        ))
        .unwrap()
    }

    /// Everything every connection sent, concatenated.
    fn all_received(&self) -> Vec<u8> {
        self.received.borrow().concat()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_more(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    log: &RefCell<Vec<Vec<u8>>>,
    n: usize,
) -> bool {
    let mut chunk = [0u8; 8192];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(k) => {
            buf.extend_from_slice(&chunk[..k]);
            log.borrow_mut()[n].extend_from_slice(&chunk[..k]);
            true
        }
    }
}

async fn serve(mut s: TcpStream, steps: Vec<Step>, log: Rc<RefCell<Vec<Vec<u8>>>>, n: usize) {
    let mut buf: Vec<u8> = Vec::new();
    for step in steps {
        match step {
            Step::Startup(answer) => loop {
                while buf.len() < 8 {
                    if !read_more(&mut s, &mut buf, &log, n).await {
                        return;
                    }
                }
                let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                while buf.len() < len {
                    if !read_more(&mut s, &mut buf, &log, n).await {
                        return;
                    }
                }
                let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                buf.drain(..len);
                if code == 80877103 {
                    let _ = s.write_all(&[answer]).await;
                    continue;
                }
                break;
            },
            Step::Until(tag) => loop {
                let mut found = false;
                while buf.len() >= 5 {
                    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                    if buf.len() < len + 1 {
                        break;
                    }
                    found = buf[0] == tag;
                    buf.drain(..len + 1);
                    if found {
                        break;
                    }
                }
                if found {
                    break;
                }
                if !read_more(&mut s, &mut buf, &log, n).await {
                    return;
                }
            },
            Step::Send(bytes) => {
                if s.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Stall => {
                while read_more(&mut s, &mut buf, &log, n).await {}
                // Keep the socket until the test ends.
                std::future::pending::<()>().await;
            }
        }
    }
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    harness::message(tag, body)
}

fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    msg(b'R', &[&code.to_be_bytes()[..], extra].concat())
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

/// ParseComplete, BindComplete, RowDescription(text column `c`), rows, CommandComplete, RFQ.
fn text_rows(rows: &[&[u8]], tag: &[u8]) -> Vec<u8> {
    let mut v = msg(b'1', &[]);
    v.extend(msg(b'2', &[]));
    v.extend(harness::row_description(&[(oid::TEXT, 0)]));
    for r in rows {
        let mut body = 1u16.to_be_bytes().to_vec();
        body.extend((r.len() as i32).to_be_bytes());
        body.extend(*r);
        v.extend(msg(b'D', &body));
    }
    v.extend(msg(b'C', &[tag, b"\0"].concat()));
    v.extend(ready());
    v
}

fn fake_pool(config: Config) -> Pool {
    pool(
        config,
        PoolOptions {
            max: 2,
            ..Default::default()
        },
    )
}

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

async fn open_starttls(config: &Config) -> edgepg::Result<Client> {
    let mut c = Client::open(
        config,
        ClientOptions::default(),
        &StartTlsConnector,
        TokioRuntime::shared(),
    )
    .await?;
    c.ready().await?;
    Ok(c)
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
            let err = open_starttls(&fake.url(&format!("sslmode={mode}")))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "tls", "{mode}: {err:?}");
            assert!(err.message().contains("does not support TLS"), "{err}");
        }
        // Nothing but the SSLRequest went out: no StartupMessage, no password.
        let sent = fake.all_received();
        assert_eq!(sent.len(), 8 * 3, "{sent:?}");
        // prefer falls back to plain text on 'N' and connects.
        let c = open_starttls(&fake.url("sslmode=prefer")).await.unwrap();
        assert!(c.is_usable());
        // A server answering SSLRequest with garbage is a protocol error.
        let bad = Fake::start(|_| vec![Step::Startup(b'E'), Step::Stall]).await;
        let err = open_starttls(&bad.url("sslmode=prefer")).await.unwrap_err();
        assert_eq!(err.code(), "protocol", "{err:?}");
        // The server accepts TLS but the transport cannot: a clean error, not a hang.
        let yes = Fake::start(|_| vec![Step::Startup(b'S'), Step::Stall]).await;
        let err = open_starttls(&yes.url("sslmode=require"))
            .await
            .unwrap_err();
        assert!(err.message().contains("no TLS"), "{err:?}");
    }));
}

// ---- parameters and SQL errors ----

#[test]
fn wrong_parameter_types_are_server_errors_and_the_connection_survives() {
    run(bounded("wrong types", 60, async {
        let pool = direct_pool(1);
        let mut wrong_size = Statement::new("SELECT $1::int4");
        wrong_size.params.push(Param {
            oid: 0,
            format: Format::Binary,
            value: Some(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1])),
        });
        let cases: Vec<(Statement, &[&str])> = vec![
            // Binary bytes of the wrong size for the type the server inferred.
            (wrong_size, &["22P03"]),
            // Text that is not a number, or out of range.
            (
                Statement::new("SELECT $1::int4").bind_text(Some("twelve")),
                &["22P02"],
            ),
            (
                Statement::new("SELECT $1::int2").bind_text(Some("99999")),
                &["22003"],
            ),
            // A typed text value compared with an integer, or cast to a uuid it is not.
            (
                Statement::new("SELECT * FROM (VALUES (1)) t(v) WHERE v = $1")
                    .bind(&Value::Text("1".into()))
                    .unwrap(),
                &["42883", "42804"],
            ),
            (
                Statement::new("SELECT $1::uuid")
                    .bind(&Value::Text("not-a-uuid".into()))
                    .unwrap(),
                &["22P02"],
            ),
            // More parameters than placeholders, and fewer.
            (
                Statement::new("SELECT $1::text")
                    .bind_text(Some("a"))
                    .bind_text(Some("b")),
                &["08P01", "42P18"],
            ),
            (
                Statement::new("SELECT $1::text, $2::text").bind_text(Some("a")),
                &["08P01"],
            ),
            // A NUL byte inside a text parameter.
            (
                Statement::new("SELECT $1::text").bind_text(Some("a\0b")),
                &["22021"],
            ),
        ];
        for (statement, codes) in cases {
            let what = format!("{statement:?}");
            let err = pool.query(Request::statement(statement)).await.unwrap_err();
            assert!(codes.contains(&err.code()), "{what}: {err:?}");
            assert!(err.as_db_error().is_some(), "{what}");
            assert!(!err.is_closed(), "{what}: {err:?}");
            // The same connection answers the next query.
            let r = pool.query(sql("SELECT 'still fine'")).await.unwrap();
            assert_eq!(r[0].value(0, 0).unwrap().to_string(), "still fine");
        }
        // Encoding errors never reach the server.
        let err = pool.query(sql("SELECT 'a\0b'")).await.unwrap_err();
        assert_eq!(err.code(), "encode", "{err:?}");
        assert_eq!(err.outcome(), Outcome::NotExecuted);
        let s = pool.stats();
        assert_eq!((s.created, s.discarded), (1, 0), "{s:?}");
        assert_settled(&pool, "wrong types");
        pool.end().await;
    }));
}

#[test]
fn sql_errors_in_every_position_of_a_pipeline() {
    run(bounded("pipeline errors", 90, async {
        for var in ["EDGEPG_URL_SCRAM", "EDGEPG_URL_BOUNCER"] {
            let pool = pool(
                config(var),
                PoolOptions {
                    max: 1,
                    ..Default::default()
                },
            );
            let table = format!(
                "bad_input_pipeline_{}",
                var.to_lowercase().replace("edgepg_url_", "")
            );
            pool.query(sql(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (k text, v int)"
            )))
            .await
            .unwrap();
            const N: usize = 4;
            for bad in 0..N {
                let key = format!("p{bad}");
                // Independent requests in one write: only the bad one fails.
                let requests: Vec<Request> = (0..N)
                    .map(|i| {
                        if i == bad {
                            sql("SELECT 1/0")
                        } else {
                            Request::statement(
                                Statement::new(format!("INSERT INTO {table} VALUES ($1, $2)"))
                                    .bind_text(Some(&key))
                                    .bind_text(Some(&i.to_string())),
                            )
                        }
                    })
                    .collect();
                let mut lease = pool.acquire().await.unwrap();
                let results = lease.run_pipeline(requests).await;
                drop(lease);
                for (i, r) in results.iter().enumerate() {
                    if i == bad {
                        let e = r.as_ref().unwrap_err();
                        assert_eq!(e.code(), "22012", "{var} {bad}: {e:?}");
                    } else {
                        assert!(r.is_ok(), "{var} bad={bad} i={i}: {r:?}");
                    }
                }
                let n = pool
                    .query(sql(&format!(
                        "SELECT count(*) FROM {table} WHERE k = '{key}'"
                    )))
                    .await
                    .unwrap();
                assert_eq!(n[0].value(0, 0).unwrap().to_string(), (N - 1).to_string());

                // Statements of one request: the first error answers the request and the
                // implicit transaction rolls every statement back.
                let key = format!("s{bad}");
                let statements: Vec<Statement> = (0..N)
                    .map(|i| {
                        if i == bad {
                            Statement::new("SELECT 1/0")
                        } else {
                            Statement::new(format!("INSERT INTO {table} VALUES ($1, $2)"))
                                .bind_text(Some(&key))
                                .bind_text(Some(&i.to_string()))
                        }
                    })
                    .collect();
                let err = pool.query(Request::Extended(statements)).await.unwrap_err();
                assert_eq!(err.code(), "22012", "{var} {bad}: {err:?}");
                let n = pool
                    .query(sql(&format!(
                        "SELECT count(*) FROM {table} WHERE k = '{key}'"
                    )))
                    .await
                    .unwrap();
                assert_eq!(n[0].value(0, 0).unwrap().to_string(), "0", "{var} {bad}");

                // In a transaction: the failing statement aborts it; commit reports it.
                let err = pool
                    .transaction(|tx| {
                        let table = table.clone();
                        Box::pin(async move {
                            for i in 0..N {
                                let text = if i == bad {
                                    "SELECT 1/0".to_string()
                                } else {
                                    format!("INSERT INTO {table} VALUES ('t{bad}', {i})")
                                };
                                tx.query(sql(&text)).await?;
                            }
                            Ok(())
                        })
                    })
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "22012", "{var} {bad}: {err:?}");
                let n = pool
                    .query(sql(&format!(
                        "SELECT count(*) FROM {table} WHERE k = 't{bad}'"
                    )))
                    .await
                    .unwrap();
                assert_eq!(n[0].value(0, 0).unwrap().to_string(), "0", "{var} {bad}");
            }
            // Syntax errors, unknown tables and an empty query, all on the one connection.
            for (text, code) in [
                ("SELEC 1", "42601"),
                ("SELECT * FROM bad_input_no_such_table", "42P01"),
                ("SELECT no_such_function()", "42883"),
            ] {
                let err = pool.query(sql(text)).await.unwrap_err();
                assert_eq!(err.code(), code, "{text}: {err:?}");
                let db = err.as_db_error().unwrap();
                assert_eq!(db.severity, "ERROR");
            }
            let r = pool.query(sql("")).await.unwrap();
            assert!(r[0].rows.is_empty());
            let s = pool.stats();
            assert_eq!((s.created, s.discarded), (1, 0), "{var}: {s:?}");
            assert_settled(&pool, var);
            pool.query(sql(&format!("DROP TABLE {table}")))
                .await
                .unwrap();
            pool.end().await;
        }
    }));
}

// ---- size limits ----

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_100_mib_row_is_read_with_sane_memory_and_the_connection_stays_usable() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    const SIZE: usize = 100 * 1024 * 1024;
    run(bounded("a 100 MiB row", 120, async {
        let pool = pool(
            config("EDGEPG_URL_SCRAM"),
            PoolOptions {
                max: 1,
                client: ClientOptions {
                    max_message_size: 128 << 20,
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        pool.query(sql("SELECT 1")).await.unwrap();
        let rss_before = status_kib("VmRSS:");
        let started = Instant::now();
        let r = pool
            .query(sql("SELECT repeat('x', 100*1024*1024)"))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            r[0].rows[0].byte_len(),
            SIZE + 4,
            "one length prefix and the value"
        );
        let raw = r[0].rows[0].get(0).unwrap();
        assert_eq!(raw.len(), SIZE);
        assert!(raw.iter().all(|&b| b == b'x'));
        let value = r[0].value(0, 0).unwrap();
        match &value {
            Value::Text(t) => assert_eq!(t.len(), SIZE),
            other => panic!("{:?}", std::mem::discriminant(other)),
        }
        let peak = status_kib("VmHWM:");
        drop(value);
        drop(r);
        let growth_mib = peak.saturating_sub(rss_before) / 1024;
        eprintln!(
            "100 MiB row: {elapsed:?}, RSS before {} MiB, peak {} MiB (+{growth_mib} MiB), after {} MiB",
            rss_before / 1024,
            peak / 1024,
            status_kib("VmRSS:") / 1024
        );
        // The row, the read buffer it was cut from (capacity doubles) and the decoded copy.
        assert!(
            growth_mib < 700,
            "peak grew by {growth_mib} MiB for a 100 MiB row"
        );
        // The same connection goes on.
        let r = pool.query(sql("SELECT 'after'")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "after");
        let s = pool.stats();
        assert_eq!((s.created, s.discarded), (1, 0), "{s:?}");
        assert_settled(&pool, "100 MiB row");
        pool.end().await;
    }));
}

#[test]
fn a_row_over_max_message_size_is_a_clean_too_large_error() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    run(bounded("too large", 120, async {
        for (limit, query) in [
            (1usize << 20, "SELECT repeat('y', 2*1024*1024)"),
            // The default (64 MiB) against a 100 MiB row.
            (
                ClientOptions::default().max_message_size,
                "SELECT repeat('x', 100*1024*1024)",
            ),
        ] {
            let pool = pool(
                config("EDGEPG_URL_SCRAM"),
                PoolOptions {
                    max: 1,
                    client: ClientOptions {
                        max_message_size: limit,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            );
            pool.query(sql("SELECT 1")).await.unwrap();
            let rss_before = status_kib("VmRSS:");
            let err = pool.query(sql(query)).await.unwrap_err();
            assert_eq!(err.code(), "too_large", "{err:?}");
            assert!(err.message().contains("max_message_size"), "{err}");
            assert!(err.message().contains(&limit.to_string()), "{err}");
            // The limit is checked on the header: the body was never buffered.
            let grew = status_kib("VmRSS:").saturating_sub(rss_before) / 1024;
            assert!(grew < 64, "RSS grew by {grew} MiB for a refused message");
            // The connection is gone (its stream is mid-message); the pool replaces it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = pool.query(sql("SELECT 'next'")).await.unwrap();
            assert_eq!(r[0].value(0, 0).unwrap().to_string(), "next");
            let s = pool.stats();
            assert_eq!((s.created, s.discarded), (2, 1), "{s:?}");
            assert_settled(&pool, "too large");
            pool.end().await;
        }
    }));
}

#[test]
fn a_result_over_max_result_bytes_fails_and_the_connection_stays_usable() {
    run(bounded("max_result_bytes", 60, async {
        for var in ["EDGEPG_URL_SCRAM", "EDGEPG_URL_BOUNCER"] {
            let pool = pool(
                config(var),
                PoolOptions {
                    max: 1,
                    client: ClientOptions {
                        max_result_bytes: 1 << 20,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            );
            let err = pool
                .query(sql(
                    "SELECT repeat('z', 1000) FROM generate_series(1, 5000)",
                ))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "too_large", "{var}: {err:?}");
            assert!(err.message().contains("max_result_bytes"), "{err}");
            assert!(!err.is_closed());
            // Just under the limit passes, on the same connection.
            let r = pool
                .query(sql(
                    "SELECT repeat('z', 1000) FROM generate_series(1, 1000)",
                ))
                .await
                .unwrap();
            assert_eq!(r[0].rows.len(), 1000);
            // A server error after the limit was hit wins: it says more.
            let err = pool
                .query(sql(
                    "SELECT CASE WHEN g < 4000 THEN repeat('z', 1000) ELSE (1/0)::text END \
                     FROM generate_series(1, 5000) g",
                ))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "22012", "{var}: {err:?}");
            let s = pool.stats();
            assert_eq!((s.created, s.discarded), (1, 0), "{var}: {s:?}");
            assert_settled(&pool, var);
            pool.end().await;
        }
    }));
}

// ---- invalid UTF-8 from the server ----

#[test]
fn invalid_utf8_from_the_server_is_an_error_not_a_panic() {
    run(bounded("invalid UTF-8", 30, async {
        let mut handshake = auth(0, &[]);
        handshake.extend(msg(b'S', b"server_version\x0015.0\0"));
        handshake.extend(ready());
        // Connection 0: a text value with invalid UTF-8, then a good answer.
        // Connection 1: a CommandComplete tag with invalid UTF-8.
        // Connection 2: a column name with invalid UTF-8.
        // Connection 3: a ParameterStatus with invalid UTF-8 after startup.
        // Connection 4: an ErrorResponse with invalid UTF-8 (shown lossily), then good.
        // Later connections: good answers.
        let good = text_rows(&[b"ok"], b"SELECT 1");
        let fake = Fake::start(move |n| {
            let answer = match n {
                0 => text_rows(&[b"a\xffb", b"\xc3\x28"], b"SELECT 2"),
                1 => text_rows(&[b"fine"], b"SELECT \xff"),
                2 => {
                    let mut v = msg(b'1', &[]);
                    v.extend(msg(b'2', &[]));
                    let mut rd = harness::row_description(&[(oid::TEXT, 0)]);
                    rd[7] = 0xfe; // the column name "c0" becomes "\xfe0"
                    v.extend(rd);
                    v.extend(msg(b'C', b"SELECT 0\0"));
                    v.extend(ready());
                    v
                }
                3 => [msg(b'S', b"TimeZone\0\xff\xfe\0"), good.clone()].concat(),
                4 => [
                    msg(b'E', b"SERROR\0VERROR\0C22000\0Mbad \xff byte\0\0"),
                    ready(),
                ]
                .concat(),
                _ => good.clone(),
            };
            let mut steps = vec![
                Step::Startup(b'N'),
                Step::Send(handshake.clone()),
                Step::Until(b'S'),
                Step::Send(answer),
            ];
            if n == 0 || n == 4 {
                steps.extend([Step::Until(b'S'), Step::Send(good.clone())]);
            }
            steps.push(Step::Stall);
            steps
        })
        .await;
        let pool = pool(
            fake.url("sslmode=disable"),
            PoolOptions {
                max: 1,
                ..Default::default()
            },
        );
        // Conn 0: the rows arrive; decoding the bad value is a decode error.
        let r = pool.query(sql("SELECT bad")).await.unwrap();
        let err = r[0].value(0, 0).unwrap_err();
        assert_eq!(err.code(), "decode", "{err:?}");
        assert!(r[0].value(1, 0).is_err());
        assert!(r[0].decoded().is_err());
        // The connection is fine and reused.
        let r = pool.query(sql("SELECT good")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "ok");
        assert_eq!(pool.stats().created, 1);
        // Drop conn 0 so the next queries get connections 1.. in order.
        pool.end().await;
        let pool = fake_pool(fake.url("sslmode=disable"));
        for what in ["command tag", "column name", "parameter status"] {
            let err = pool.query(sql("SELECT x")).await.unwrap_err();
            assert_eq!(err.code(), "protocol", "{what}: {err:?}");
            assert!(err.is_closed(), "{what}");
            assert!(
                err.message().contains("malformed"),
                "{what}: {}",
                err.message()
            );
        }
        // Conn 4: the server's message is shown lossily; the connection survives.
        let err = pool.query(sql("SELECT x")).await.unwrap_err();
        assert_eq!(err.code(), "22000", "{err:?}");
        assert_eq!(err.message(), "bad \u{fffd} byte");
        let r = pool.query(sql("SELECT good")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "ok");
        let s = pool.stats();
        assert_eq!(s.discarded, 3, "{s:?}");
        assert_settled(&pool, "invalid utf8");
        pool.end().await;
    }));
}

// ---- hostile parameters ----

#[test]
fn hostile_strings_stay_parameters() {
    run(bounded("hostile parameters", 60, async {
        let pool = direct_pool(1);
        pool.query(sql("CREATE TABLE IF NOT EXISTS bad_input_hostile (v text)"))
            .await
            .unwrap();
        let long = "'; DROP TABLE bad_input_hostile; --".repeat(30_000);
        let hostile: Vec<&str> = vec![
            "'; DROP TABLE bad_input_hostile; --",
            "' OR '1'='1",
            "$1",
            "$2; SELECT pg_sleep(10)",
            "\\'; SELECT 1; --",
            "E'\\x00'",
            "\u{202e}txt.exe",
            "😀 ünïcödé ∑",
            "%s%n%x",
            "\r\nSELECT 1;\r\n",
            "\"quoted\" identifier",
            "",
            &long,
        ];
        for h in &hostile {
            // As an inferred text parameter and as a typed (binary) one.
            for statement in [
                Statement::new("SELECT $1::text").bind_text(Some(h)),
                Statement::new("SELECT $1")
                    .bind(&Value::Text(h.to_string()))
                    .unwrap(),
            ] {
                let r = pool.query(Request::statement(statement)).await.unwrap();
                assert_eq!(r[0].value(0, 0).unwrap().to_string(), *h);
            }
            pool.query(Request::statement(
                Statement::new("INSERT INTO bad_input_hostile VALUES ($1)").bind_text(Some(h)),
            ))
            .await
            .unwrap();
        }
        let r = pool
            .query(sql("SELECT count(*) FROM bad_input_hostile"))
            .await
            .unwrap();
        let n: usize = r[0].value(0, 0).unwrap().to_string().parse().unwrap();
        assert!(n >= hostile.len(), "the table survived with its rows");
        assert_settled(&pool, "hostile");
        pool.query(sql("DROP TABLE bad_input_hostile"))
            .await
            .unwrap();
        pool.end().await;
    }));
}

// ---- fuzz smoke: the four fuzzed entry points on pseudo-random input ----

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A seed with a few bytes flipped, inserted, removed or overwritten by "interesting"
    /// values.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + self.below(8) {
            let at = if v.is_empty() { 0 } else { self.below(v.len()) };
            match self.below(6) {
                0 if !v.is_empty() => v[at] ^= 1 << self.below(8),
                1 => v.insert(at, self.next() as u8),
                2 if !v.is_empty() => {
                    v.remove(at);
                }
                3 if !v.is_empty() => {
                    v[at] =
                        [0x00, 0xff, 0x7f, 0x80, b'0', b'-', b':', b'@', b'%', b'{'][self.below(10)]
                }
                4 => {
                    let cut = self.below(v.len() + 1);
                    v.truncate(cut);
                }
                _ if v.len() >= 4 => {
                    let at = self.below(v.len() - 3);
                    let x = [0u32, u32::MAX, 0x7fff_ffff, 0x8000_0000, 1, 4][self.below(6)];
                    v[at..at + 4].copy_from_slice(&x.to_be_bytes());
                }
                _ => {}
            }
        }
        v
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn fuzz_smoke_no_panics_on_pseudo_random_input() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 4] = [
        ("backend_message", harness::backend_message),
        ("type_decode", harness::type_decode),
        ("config_parse", harness::config_parse),
        ("connection", harness::connection),
    ];
    let started = Instant::now();
    for (name, f) in targets {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "{name} has seeds");
        let mut rng = Rng(0x5eed_0000_0000_0001 ^ name.len() as u64);
        for seed in &seeds {
            f(seed);
        }
        for i in 0..3000 {
            let input = if i % 3 == 0 {
                rng.bytes(300)
            } else {
                let seed = &seeds[rng.below(seeds.len())];
                rng.mutate(seed)
            };
            let result = std::panic::catch_unwind(|| f(&input));
            assert!(
                result.is_ok(),
                "{name} panicked on input #{i}: {input:02x?}"
            );
        }
    }
    eprintln!("fuzz smoke: 4 x 3000 inputs in {:?}", started.elapsed());
}
