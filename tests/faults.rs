//! Faults with real processes on loopback: backends terminated and killed mid-query (crash
//! recovery), PgBouncer restarted and the proxy killed under load, stalled peers, servers
//! closing during the handshake, connection limits.
//!
//! After each fault: the failing call gets a clear error, other callers are unaffected where
//! the fault allows it, the pool discards the broken connection, the next query succeeds once
//! the fault is gone, and no acknowledged write is lost or duplicated. Writers insert unique
//! ids into tables without a unique constraint and keep a ledger of what they were told; the
//! table must agree with the ledger:
//!
//! - acknowledged → present exactly once (twice for a two-row transaction);
//! - `Outcome::NotExecuted` → absent;
//! - `Outcome::Unknown` → absent or present once (a transaction: all rows or none);
//! - never an id twice, never an id nobody wrote.
//!
//! The scenarios that stop or crash a server use private instances (a PgBouncer, a proxy and
//! a small Postgres cluster started here, by the same commands scripts/stack.sh uses) so the
//! shared stack, which other suites use concurrently, is never disturbed; they run in
//! sequence inside one test.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::transport::Connector;
use edgepg::transport::tcp::TokioRuntime;
use edgepg::transport::websocket_native::WsConnector;
use edgepg::{Config, Outcome, Pool, PoolOptions};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn bounded<F: Future>(what: &str, secs: u64, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs}s (a hang)"),
    }
}

fn tagged(mut config: Config, app: &str) -> Config {
    config.application_name = Some(app.to_string());
    config
}

// ---- the write ledger ----

#[derive(Debug)]
struct Attempt {
    id: i64,
    /// A two-row transaction (rows 'a' and 'b') rather than one INSERT.
    tx: bool,
    result: Result<(), Failure>,
    at: Instant,
}

#[derive(Debug)]
struct Failure {
    outcome: Outcome,
    code: String,
    message: String,
    closed_or_fatal: bool,
}

#[derive(Default)]
struct Ledger {
    attempts: RefCell<Vec<Attempt>>,
    next_id: Cell<i64>,
    stop: Cell<bool>,
}

impl Ledger {
    fn new(first_id: i64) -> Rc<Ledger> {
        let l = Ledger::default();
        l.next_id.set(first_id);
        Rc::new(l)
    }

    fn failures_since(&self, t: Instant) -> usize {
        self.attempts
            .borrow()
            .iter()
            .filter(|a| a.at >= t && a.result.is_err())
            .count()
    }

    fn successes_since(&self, t: Instant) -> usize {
        self.attempts
            .borrow()
            .iter()
            .filter(|a| a.at >= t && a.result.is_ok())
            .count()
    }

    fn summary(&self) -> String {
        let a = self.attempts.borrow();
        let ok = a.iter().filter(|a| a.result.is_ok()).count();
        let mut codes: HashMap<String, usize> = HashMap::new();
        for f in a.iter().filter_map(|a| a.result.as_ref().err()) {
            *codes
                .entry(format!("{}/{:?}", f.code, f.outcome))
                .or_default() += 1;
        }
        let mut codes: Vec<_> = codes.into_iter().collect();
        codes.sort();
        format!(
            "{} attempts, {ok} acknowledged, failures {codes:?}",
            a.len()
        )
    }
}

fn insert(table: &str, id: i64, part: &str) -> Request {
    Request::statement(
        Statement::new(format!("INSERT INTO {table} (id, part) VALUES ($1, $2)"))
            .bind(&Value::Int8(id))
            .unwrap()
            .bind_text(Some(part)),
    )
}

/// Writes until the ledger says stop: every third id is a two-row transaction.
async fn writer(pool: Pool, table: String, ledger: Rc<Ledger>, pace: Duration) {
    while !ledger.stop.get() {
        let id = ledger.next_id.get();
        ledger.next_id.set(id + 1);
        let tx = id % 3 == 0;
        let at = Instant::now();
        let result = if tx {
            let table = table.clone();
            pool.transaction(|t| {
                Box::pin(async move {
                    t.query(insert(&table, id, "a")).await?;
                    t.query(insert(&table, id, "b")).await?;
                    Ok(())
                })
            })
            .await
        } else {
            pool.query(insert(&table, id, "s")).await.map(|_| ())
        };
        let result = result.map_err(|e| Failure {
            outcome: e.outcome(),
            code: e.code().to_string(),
            message: e.message().to_string(),
            closed_or_fatal: e.is_closed() || e.is_fatal() || e.is_timeout(),
        });
        ledger
            .attempts
            .borrow_mut()
            .push(Attempt { id, tx, result, at });
        tokio::time::sleep(pace).await;
    }
}

/// `writers` concurrent writers on `pool`; returns their handles.
fn start_writers(
    pool: &Pool,
    table: &str,
    ledger: &Rc<Ledger>,
    writers: usize,
    pace: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|_| {
            tokio::task::spawn_local(writer(
                pool.clone(),
                table.to_string(),
                ledger.clone(),
                pace,
            ))
        })
        .collect()
}

async fn stop_writers(ledger: &Ledger, handles: Vec<tokio::task::JoinHandle<()>>) {
    ledger.stop.set(true);
    bounded("writers stopping", 60, join_all(handles)).await;
}

/// Checks the table against the ledger (see the module docs); `rows` maps id → row count.
fn verify(what: &str, ledger: &Ledger, rows: &HashMap<i64, usize>) {
    let attempts = ledger.attempts.borrow();
    let mut seen = std::collections::HashSet::new();
    for a in attempts.iter() {
        assert!(seen.insert(a.id), "{what}: id {} attempted twice", a.id);
        let full = if a.tx { 2 } else { 1 };
        let n = rows.get(&a.id).copied().unwrap_or(0);
        assert!(
            n <= full,
            "{what}: id {} is in the table {n} times: duplicated",
            a.id
        );
        match &a.result {
            Ok(()) => assert_eq!(
                n, full,
                "{what}: id {} was acknowledged but {n} of {full} rows are there: LOST",
                a.id
            ),
            Err(f) => {
                assert!(!f.code.is_empty() && !f.message.is_empty(), "{what}: {f:?}");
                assert!(
                    f.closed_or_fatal,
                    "{what}: id {}: a fault should fail as closed/fatal/timeout: {f:?}",
                    a.id
                );
                match f.outcome {
                    Outcome::NotExecuted => assert_eq!(
                        n, 0,
                        "{what}: id {} reported NotExecuted but ran: {f:?}",
                        a.id
                    ),
                    Outcome::Unknown => assert!(
                        n == 0 || n == full,
                        "{what}: id {}: a transaction half-applied ({n} of {full})",
                        a.id
                    ),
                }
            }
        }
    }
    for id in rows.keys() {
        assert!(
            seen.contains(id),
            "{what}: id {id} in the table was never written"
        );
    }
}

fn parse_counts(out: &str) -> HashMap<i64, usize> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, n) = l.split_once('|').expect("id|count");
            (id.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

/// psql with a URL (the stack's admin URL for the shared cluster).
fn psql_at(url: &str, query: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", query])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {query:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

fn fresh_table(url: &str, table: &str, grant_to: Option<&str>) {
    psql_at(
        url,
        &format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id bigint, part text)"),
    );
    if let Some(role) = grant_to {
        psql_at(url, &format!("GRANT SELECT, INSERT ON {table} TO {role}"));
    }
}

fn table_counts(url: &str, table: &str) -> HashMap<i64, usize> {
    parse_counts(&psql_at(
        url,
        &format!("SELECT id, count(*) FROM {table} GROUP BY id"),
    ))
}

/// Waits until `f` holds (polling), failing after `secs`.
async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {secs}s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- backends terminated mid-query (shared stack, own backends only) ----

#[test]
fn a_terminated_backend_fails_only_its_caller_and_loses_no_acknowledged_write() {
    let app = "edgepg_faults_terminate";
    let table = "faults_terminate";
    let admin = url("EDGEPG_URL_ADMIN");
    fresh_table(&admin, table, Some("edgepg_scram"));
    run(bounded("terminate", 120, async {
        let pool = pool(
            tagged(config("EDGEPG_URL_SCRAM"), app),
            PoolOptions {
                max: 4,
                ..Default::default()
            },
        );
        let ledger = Ledger::new(1);
        // The victim: a long query on its own connection.
        let victim = {
            let pool = pool.clone();
            tokio::task::spawn_local(async move {
                let started = Instant::now();
                let r = pool.query(sql("SELECT pg_sleep(30)")).await;
                (r, started.elapsed())
            })
        };
        let writers = start_writers(&pool, table, &ledger, 3, Duration::from_millis(2));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed_at = Instant::now();
        let killed = tokio::task::spawn_blocking({
            let admin = admin.clone();
            move || {
                psql_at(
                    &admin,
                    &format!(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE application_name = '{app}' AND query = 'SELECT pg_sleep(30)'"
                    ),
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(killed, "1");
        let (result, took) = victim.await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.code(), "57P01", "{err:?}");
        assert!(err.is_fatal());
        assert_eq!(err.outcome(), Outcome::Unknown);
        assert!(
            err.message()
                .contains("terminating connection due to administrator command"),
            "{err}"
        );
        assert!(took < Duration::from_secs(10), "{took:?}");
        let db = err.as_db_error().unwrap();
        assert_eq!(db.severity, "FATAL");
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The other callers were never touched.
        assert_eq!(
            ledger.failures_since(Instant::now() - Duration::from_secs(60)),
            0,
            "{}",
            ledger.summary()
        );
        assert!(
            ledger.successes_since(killed_at) > 10,
            "{}",
            ledger.summary()
        );
        let discarded = pool.stats().discarded;
        assert!(discarded >= 1, "{:?}", pool.stats());

        // Now every backend of the pool, three times, under load.
        for _ in 0..3 {
            tokio::task::spawn_blocking({
                let admin = admin.clone();
                move || {
                    psql_at(
                        &admin,
                        &format!(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                             WHERE application_name = '{app}'"
                        ),
                    )
                }
            })
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let healed = Instant::now();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stop_writers(&ledger, writers).await;
        assert_eq!(ledger.failures_since(healed), 0, "{}", ledger.summary());
        assert!(ledger.successes_since(healed) > 10, "{}", ledger.summary());
        let s = pool.stats();
        assert!(s.discarded > discarded, "{s:?}");
        assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
        assert!(s.open <= 4, "{s:?}");
        eprintln!("terminate: {} | {s:?}", ledger.summary());
        pool.end().await;
        verify("terminate", &ledger, &table_counts(&admin, table));
    }));
}

// ---- a pipeline broken mid-write ----

#[test]
fn a_pipeline_broken_mid_write_is_not_retried_blindly() {
    // The first request commits, the second makes the server drop the connection, the third is
    // large enough that the client is still writing when the socket breaks. The write fails,
    // but the first request ran: it must not be reported as not executed, nor run again on a
    // fresh connection.
    let table = "faults_pipeline";
    let admin = url("EDGEPG_URL_ADMIN");
    fresh_table(&admin, table, Some("edgepg_scram"));
    run(bounded("broken pipeline", 120, async {
        let pool = pool(
            config("EDGEPG_URL_SCRAM"),
            PoolOptions {
                max: 1,
                ..Default::default()
            },
        );
        let big = "x".repeat(32 << 20);
        for id in 1..=3i64 {
            // A warm, reused connection: the lease may retry its first request.
            pool.query(sql("SELECT 1")).await.unwrap();
            let mut lease = pool.acquire().await.unwrap();
            assert!(!lease.is_fresh());
            let results = lease
                .run_pipeline(vec![
                    insert(table, id, "p"),
                    sql("SELECT pg_terminate_backend(pg_backend_pid())"),
                    Request::statement(Statement::new("SELECT length($1)").bind_text(Some(&big))),
                ])
                .await;
            drop(lease);
            eprintln!(
                "pipeline {id}: {:?}",
                results
                    .iter()
                    .map(|r| r
                        .as_ref()
                        .map(|_| "ok")
                        .map_err(|e| (e.code().to_string(), e.outcome())))
                    .collect::<Vec<_>>()
            );
            let counts = table_counts(&admin, table);
            let n = counts.get(&id).copied().unwrap_or(0);
            assert!(
                n <= 1,
                "id {id} inserted {n} times: the pipeline was retried blindly"
            );
            match &results[0] {
                Ok(_) => assert_eq!(n, 1),
                Err(e) => {
                    assert!(e.is_closed() || e.is_fatal(), "{e:?}");
                    if n == 1 {
                        assert_eq!(
                            e.outcome(),
                            Outcome::Unknown,
                            "id {id} committed but was reported {e:?}"
                        );
                    }
                }
            }
            for r in &results[1..] {
                let e = r.as_ref().unwrap_err();
                assert!(e.is_closed() || e.is_fatal(), "{e:?}");
            }
            let s = pool.stats();
            assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
        }
        pool.end().await;
    }));
}

// ---- stalled peers ----

/// A fake server: connection `n` either stalls at once (`Stall`), completes a trust handshake
/// and then stalls on the first query (`Hang`), or answers every query with one row (`Serve`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Peer {
    Stall,
    Hang,
    Serve,
}

struct FakePeer {
    port: u16,
    received: Rc<RefCell<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn trust_handshake() -> Vec<u8> {
    let mut v = msg(b'R', &0i32.to_be_bytes());
    v.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    v.extend(msg(b'Z', b"I"));
    v
}

fn one_row() -> Vec<u8> {
    let mut v = msg(b'1', &[]);
    v.extend(msg(b'2', &[]));
    let mut rd = 1u16.to_be_bytes().to_vec();
    rd.extend(b"v\0");
    rd.extend(0u32.to_be_bytes());
    rd.extend(0i16.to_be_bytes());
    rd.extend(25u32.to_be_bytes());
    rd.extend((-1i16).to_be_bytes());
    rd.extend((-1i32).to_be_bytes());
    rd.extend(0i16.to_be_bytes());
    v.extend(msg(b'T', &rd));
    v.extend(msg(b'D', &[0, 1, 0, 0, 0, 2, b'o', b'k']));
    v.extend(msg(b'C', b"SELECT 1\0"));
    v.extend(msg(b'Z', b"I"));
    v
}

async fn fake_peer(behaviour: impl Fn(usize) -> Peer + 'static) -> FakePeer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Rc::new(RefCell::new(Vec::new()));
    let log = received.clone();
    let task = tokio::task::spawn_local(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            let peer = behaviour(n);
            log.borrow_mut().push(Vec::new());
            let log = log.clone();
            let i = n;
            n += 1;
            tokio::task::spawn_local(async move {
                let mut buf = [0u8; 8192];
                let mut answered_startup = false;
                let mut pending = Vec::new();
                loop {
                    let k = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            std::future::pending::<()>().await;
                            return;
                        }
                        Ok(k) => k,
                    };
                    log.borrow_mut()[i].extend_from_slice(&buf[..k]);
                    pending.extend_from_slice(&buf[..k]);
                    if peer == Peer::Stall {
                        continue;
                    }
                    if !answered_startup {
                        if pending.len() < 4 {
                            continue;
                        }
                        let len =
                            u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]])
                                as usize;
                        if pending.len() < len {
                            continue;
                        }
                        pending.drain(..len);
                        answered_startup = true;
                        let _ = s.write_all(&trust_handshake()).await;
                    }
                    // Answer each Sync.
                    while pending.len() >= 5 {
                        let len =
                            u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]])
                                as usize;
                        if pending.len() < len + 1 {
                            break;
                        }
                        let tag = pending[0];
                        pending.drain(..len + 1);
                        if tag == b'S' && peer == Peer::Serve {
                            let _ = s.write_all(&one_row()).await;
                        }
                    }
                }
            });
        }
    });
    FakePeer {
        port,
        received,
        task,
    }
}

impl FakePeer {
    fn config(&self, query: &str) -> Config {
        Config::parse(&format!(
            "postgres://fake@127.0.0.1:{}/db?sslmode=disable&{query}",
            self.port
        ))
        .unwrap()
    }
}

#[test]
fn stalled_peers_hit_connect_query_and_idle_timeouts() {
    run(bounded("stalled peers", 60, async {
        // connect_timeout: accepts, never answers.
        let silent = fake_peer(|_| Peer::Stall).await;
        let p = pool(
            silent.config("connect_timeout=0.5"),
            PoolOptions {
                max: 2,
                ..Default::default()
            },
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
        let hang_first = fake_peer(|n| if n == 0 { Peer::Hang } else { Peer::Serve }).await;
        let p = pool(
            hang_first.config("query_timeout=0.5"),
            PoolOptions {
                max: 2,
                ..Default::default()
            },
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
        let r = p.query(sql("SELECT 'v'")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "ok");
        p.end().await;

        // idle_timeout: a connection to a peer that answered once and went quiet is retired
        // politely (Terminate) without anyone waiting on it.
        let quiet = fake_peer(|_| Peer::Serve).await;
        let p = pool(
            quiet.config(""),
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
            quiet.received.borrow()[0].ends_with(&[b'X', 0, 0, 0, 4])
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
        let pool = pool(
            cfg.clone(),
            PoolOptions {
                max: 1,
                ..Default::default()
            },
        );
        pool.query(sql("SELECT 1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        // The server closed the idle session (FATAL 57P05): noticed before anything is
        // written, replaced, the caller sees nothing.
        let r = pool.query(sql("SELECT 'fresh'")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "fresh");
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
                        s.write_all(&trust_handshake()).await.unwrap();
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
        let p = pool(
            cfg,
            PoolOptions {
                max: 1,
                ..Default::default()
            },
        );
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
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::task::spawn_local(async move {
                loop {
                    let Ok((mut s, _)) = listener.accept().await else {
                        return;
                    };
                    if read_startup {
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(&reply).await;
                    }
                    drop(s);
                }
            });
            let cfg = Config::parse(&format!(
                "postgres://u:Handshake-Secret@127.0.0.1:{port}/db?sslmode=disable"
            ))
            .unwrap();
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
                assert!(err.is_closed() || err.is_fatal(), "{what}: {err:?}");
                assert!(!err.message().is_empty());
                assert!(!format!("{err:?}").contains("Handshake-Secret"));
                if err.code() == "closed" {
                    assert!(err.message().contains("during startup"), "{what}: {err}");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let s = pool.stats();
            assert_eq!((s.busy, s.open, s.waiting), (0, 0, 0), "{what}: {s:?}");
            server.abort();
        }
    }));
}

// ---- connection limits ----

#[test]
fn a_role_connection_limit_fails_the_extra_connections_cleanly() {
    let admin = url("EDGEPG_URL_ADMIN");
    let role = "edgepg_faults_limited";
    psql_at(
        &admin,
        &format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             CREATE ROLE {role}; END IF; END $$; \
             ALTER ROLE {role} LOGIN PASSWORD 'limited_pw' CONNECTION LIMIT 2; \
             GRANT CONNECT ON DATABASE edgepg TO {role}"
        ),
    );
    let table = "faults_limited";
    fresh_table(&admin, table, Some(role));
    let base = config("EDGEPG_URL_SCRAM");
    let cfg = Config::parse(&format!(
        "postgres://{role}:limited_pw@{}:{}/{}?application_name=edgepg_faults_limit",
        base.host, base.port, base.database
    ))
    .unwrap();
    run(bounded("connection limit", 60, async {
        // Two connections held elsewhere: the pool cannot get any.
        let a = connect(&cfg).await.unwrap();
        let b = connect(&cfg).await.unwrap();
        let pool = pool(
            cfg.clone(),
            PoolOptions {
                max: 5,
                ..Default::default()
            },
        );
        let err = pool.query(sql("SELECT 1")).await.unwrap_err();
        assert_eq!(err.code(), "53300", "{err:?}");
        assert!(
            err.message().contains("too many connections for role"),
            "{err}"
        );
        assert!(err.is_fatal());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = pool.stats();
        assert_eq!((s.busy, s.open), (0, 0), "{s:?}");
        a.close().await;
        b.close().await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Five callers at once on a pool of five: the server takes two, three fail cleanly,
        // the two are unaffected.
        let results = join_all((0..5).map(|_| pool.query(sql("SELECT pg_sleep(0.3)")))).await;
        let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        // The server admits at most two (fewer when the five race through its check).
        assert!(failed.len() >= 3, "{results:?}");
        for e in &failed {
            assert_eq!(e.code(), "53300", "{e:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = pool.stats();
        assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
        assert!(s.open <= 2, "{s:?}");
        assert!(s.discarded >= 4, "{s:?}");

        // Writers within the limit: every write lands once.
        let ledger = Ledger::new(1);
        let writers = start_writers(&pool, table, &ledger, 2, Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop_writers(&ledger, writers).await;
        assert_eq!(
            ledger.failures_since(Instant::now() - Duration::from_secs(60)),
            0,
            "{}",
            ledger.summary()
        );
        pool.end().await;
        verify("connection limit", &ledger, &table_counts(&admin, table));
    }));
}

// ---- private services: PgBouncer, the proxy, a Postgres cluster ----

/// Runs `program args` as the stack user when root (setpriv, as scripts/stack.sh does).
fn as_stack_user(program: &Path, args: &[&str]) -> Command {
    let user = std::env::var("EDGEPG_STACK_USER").unwrap_or_else(|_| "postgres".into());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
        ]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir("/");
    cmd
}

fn chown_to_stack_user(path: &Path) {
    let user = std::env::var("EDGEPG_STACK_USER").unwrap_or_else(|_| "postgres".into());
    let _ = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path)
        .status();
}

/// Alive and not a zombie (daemons are reaped late by PID 1 here).
fn proc_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn private_dir(name: &str) -> PathBuf {
    let base = std::env::var("EDGEPG_STACK_DIR").unwrap_or_else(|_| "/tmp/edgepg-stack".into());
    let dir = PathBuf::from(format!("{base}-faults")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chmod")
        .arg("755")
        .arg(dir.parent().unwrap())
        .status();
    dir
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("EDGEPG_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let fifteen = PathBuf::from("/usr/lib/postgresql/15/bin");
    if fifteen.join("initdb").exists() {
        return fifteen;
    }
    found
        .pop()
        .expect("PostgreSQL binaries under /usr/lib/postgresql")
}

/// A PgBouncer of this test in front of the stack's Postgres (transaction mode, SCRAM);
/// stopped when dropped.
struct Bouncer {
    ctl: BouncerCtl,
}

/// Starts and stops that PgBouncer (cheap to clone into a blocking task).
#[derive(Clone)]
struct BouncerCtl {
    dir: PathBuf,
    port: u16,
}

impl Bouncer {
    fn start() -> Bouncer {
        let dir = private_dir("pgbouncer");
        let port = free_port();
        let pg = config("EDGEPG_URL_SCRAM");
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\nedgepg = host={} port={} dbname=edgepg\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = scram-sha-256\nauth_file = {d}/userlist.txt\n\
                 pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 8\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 server_reset_query =\nlogfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n",
                pg.host,
                pg.port,
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("userlist.txt"), "\"edgepg_scram\" \"scram_pw\"\n").unwrap();
        chown_to_stack_user(&dir);
        let ctl = BouncerCtl { dir, port };
        ctl.stop();
        ctl.launch();
        Bouncer { ctl }
    }

    fn config(&self) -> Config {
        let mut c = config("EDGEPG_URL_BOUNCER");
        c.port = self.ctl.port;
        c
    }
}

impl BouncerCtl {
    fn launch(&self) {
        let _ = std::fs::remove_file(self.dir.join("pgbouncer.pid"));
        let ini = self.dir.join("pgbouncer.ini");
        let status = as_stack_user(
            Path::new(if Path::new("/usr/sbin/pgbouncer").exists() {
                "/usr/sbin/pgbouncer"
            } else {
                "pgbouncer"
            }),
            &["-d", ini.to_str().unwrap()],
        )
        .stdout(Stdio::null())
        .status()
        .expect("pgbouncer starts");
        assert!(status.success(), "pgbouncer -d failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PgBouncer did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("pgbouncer.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&p| proc_alive(p))
    }

    /// SIGTERM, as scripts/stack.sh stops it; SIGKILL after 10 s.
    fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc_alive(pid) {
            if Instant::now() > deadline {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        self.ctl.stop();
    }
}

/// An edgepg-proxy process of this test on a fixed port (so it can come back on it).
struct Proxy {
    child: Option<Child>,
    port: u16,
    allow: String,
}

impl Proxy {
    fn start(allow: String) -> Proxy {
        let mut p = Proxy {
            child: None,
            port: free_port(),
            allow,
        };
        p.launch();
        p
    }

    fn launch(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_edgepg-proxy"))
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--allow", &self.allow])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("edgepg-proxy starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the proxy did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn connector(&self) -> WsConnector {
        WsConnector::proxy(&format!("ws://127.0.0.1:{}/v2", self.port))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small Postgres cluster of this test: synchronous_commit on (so a crash cannot lose an
/// acknowledged commit), restart_after_crash on, max_connections 8 (5 for normal roles).
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = private_dir("postgres");
        let bin = pg_bin();
        let data = dir.join("data");
        let c = Cluster {
            dir: dir.clone(),
            port: free_port(),
        };
        c.stop();
        if !data.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&data);
            chown_to_stack_user(&dir);
            let out = as_stack_user(
                &bin.join("initdb"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            )
            .output()
            .expect("initdb runs");
            assert!(
                out.status.success(),
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=8 -c superuser_reserved_connections=3 -c fsync=off \
             -c synchronous_commit=on -c full_page_writes=off -c restart_after_crash=on",
            c.port,
            dir.display()
        );
        let log = dir.join("postgres.log");
        let out = as_stack_user(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .output()
        .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        c.admin(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'faults') THEN \
             CREATE ROLE faults LOGIN; END IF; END $$; GRANT ALL ON SCHEMA public TO faults",
        );
        c
    }

    fn admin_url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?application_name=faults_admin",
            self.port
        )
    }

    fn admin(&self, sql: &str) -> String {
        psql_at(&self.admin_url(), sql)
    }

    fn config(&self, app: &str) -> Config {
        Config::parse(&format!(
            "postgres://faults@127.0.0.1:{}/postgres?sslmode=disable&application_name={app}",
            self.port
        ))
        .unwrap()
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = as_stack_user(
                &pg_bin().join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        }
    }
}

fn pg_ready(port: u16) -> bool {
    Command::new(pg_bin().join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Restarts PgBouncer (SIGTERM, then `pgbouncer -d`) while 6 writers keep a pool of 5 busy.
async fn pgbouncer_restart_under_load() {
    let bouncer = Bouncer::start();
    let admin = url("EDGEPG_URL_ADMIN");
    let table = "faults_bouncer";
    fresh_table(&admin, table, Some("edgepg_scram"));
    let pool = pool(
        bouncer.config(),
        PoolOptions {
            max: 5,
            acquire_timeout: Duration::from_secs(5),
            ..Default::default()
        },
    );
    let ledger = Ledger::new(1);
    let writers = start_writers(&pool, table, &ledger, 6, Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = pool.stats();
    let down = Instant::now();
    let ctl = bouncer.ctl.clone();
    tokio::task::spawn_blocking(move || ctl.stop())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ctl = bouncer.ctl.clone();
    tokio::task::spawn_blocking(move || ctl.launch())
        .await
        .unwrap();
    let up = Instant::now();
    eprintln!("pgbouncer was down {:?}", up - down);
    // Give in-flight retries a moment, then everything must succeed again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let healed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_writers(&ledger, writers).await;
    eprintln!("pgbouncer restart: {}", ledger.summary());
    assert!(
        ledger.failures_since(down) > 0,
        "the restart was noticed: {}",
        ledger.summary()
    );
    assert_eq!(ledger.failures_since(healed), 0, "{}", ledger.summary());
    assert!(ledger.successes_since(healed) > 10, "{}", ledger.summary());
    let s = pool.stats();
    assert!(s.discarded > before.discarded, "{s:?}");
    assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
    assert!(s.open <= 5, "{s:?}");
    pool.end().await;
    verify("pgbouncer restart", &ledger, &table_counts(&admin, table));
}

/// Kills the proxy (SIGKILL) with connections open and brings it back on the same port.
async fn proxy_killed_under_load() {
    let bouncer = config("EDGEPG_URL_BOUNCER");
    let mut proxy = Proxy::start(format!("{}:{}", bouncer.host, bouncer.port));
    let admin = url("EDGEPG_URL_ADMIN");
    let table = "faults_proxy";
    fresh_table(&admin, table, Some("edgepg_scram"));
    let pool = Pool::new(
        bouncer.clone(),
        PoolOptions {
            max: 4,
            acquire_timeout: Duration::from_secs(5),
            ..Default::default()
        },
        Rc::new(proxy.connector()) as Rc<dyn Connector>,
        TokioRuntime::shared(),
    );
    let ledger = Ledger::new(1);
    let writers = start_writers(&pool, table, &ledger, 5, Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = pool.stats();
    assert!(before.open >= 1);
    let down = Instant::now();
    proxy.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // While it is down: a clean connect error, nothing sent.
    let err = pool.query(sql("SELECT 1")).await.unwrap_err();
    assert!(matches!(err.code(), "refused" | "closed"), "{err:?}");
    if err.code() == "refused" {
        assert_eq!(err.outcome(), Outcome::NotExecuted);
        assert!(err.message().contains("proxy"), "{err}");
    }
    proxy.launch();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let healed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_writers(&ledger, writers).await;
    eprintln!("proxy kill: {}", ledger.summary());
    assert!(ledger.failures_since(down) > 0, "{}", ledger.summary());
    assert_eq!(ledger.failures_since(healed), 0, "{}", ledger.summary());
    assert!(ledger.successes_since(healed) > 10, "{}", ledger.summary());
    let s = pool.stats();
    assert!(s.discarded > before.discarded, "{s:?}");
    assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
    pool.end().await;
    verify("proxy kill", &ledger, &table_counts(&admin, table));
}

/// SIGKILLs a backend of the private cluster mid-query: the postmaster kills every backend
/// and runs crash recovery. Then exhausts its max_connections.
async fn backend_sigkill_and_crash_recovery() {
    let cluster = Cluster::start();
    let admin = cluster.admin_url();
    let table = "faults_crash";
    fresh_table(&admin, table, Some("faults"));
    let app = "edgepg_faults_crash";
    let pool = pool(
        cluster.config(app),
        PoolOptions {
            max: 4,
            acquire_timeout: Duration::from_secs(5),
            ..Default::default()
        },
    );
    let ledger = Ledger::new(1);
    let victim = {
        let pool = pool.clone();
        tokio::task::spawn_local(async move { pool.query(sql("SELECT pg_sleep(30)")).await })
    };
    let writers = start_writers(&pool, table, &ledger, 3, Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = cluster.admin(&format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = '{app}' \
         AND query = 'SELECT pg_sleep(30)'"
    ));
    assert!(!pid.is_empty(), "the victim's backend");
    let crashed = Instant::now();
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    let err = bounded("the victim's answer", 20, victim)
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_closed() || err.is_fatal(), "{err:?}");
    assert_eq!(err.outcome(), Outcome::Unknown, "{err:?}");
    eprintln!("crash: the victim got {}: {}", err.code(), err.message());
    // Crash recovery: wait until the cluster accepts connections again.
    let deadline = Instant::now() + Duration::from_secs(60);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let port = cluster.port;
    while !tokio::task::spawn_blocking(move || pg_ready(port))
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "no recovery within 60s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = Instant::now();
    eprintln!("crash recovery took {:?}", recovered - crashed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let healed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_writers(&ledger, writers).await;
    eprintln!("crash: {}", ledger.summary());
    assert!(ledger.failures_since(crashed) > 0, "{}", ledger.summary());
    assert_eq!(ledger.failures_since(healed), 0, "{}", ledger.summary());
    assert!(ledger.successes_since(healed) > 10, "{}", ledger.summary());
    let s = pool.stats();
    assert_eq!((s.busy, s.waiting), (0, 0), "{s:?}");
    assert!(s.discarded >= 4, "{s:?}");
    verify("crash recovery", &ledger, &table_counts(&admin, table));

    // max_connections: 5 slots for normal roles. Hold 5, then the pool gets the server's
    // refusal; free them and it works.
    pool.end().await;
    let cfg = cluster.config("edgepg_faults_held");
    let mut held = Vec::new();
    // Take every slot (backends of the crash phase may still be exiting): the server's
    // refusal ends the loop.
    let refusal = loop {
        match connect(&cfg).await {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        assert!(
            held.len() <= 5,
            "max_connections=8 with 3 reserved admits 5"
        );
    };
    assert_eq!(refusal.code(), "53300", "{refusal:?}");
    let pool = pool_for(cluster.config(app), 2);
    let err = pool.query(sql("SELECT 1")).await.unwrap_err();
    assert_eq!(err.code(), "53300", "{err:?}");
    // "remaining connection slots are reserved for …" (or "too many clients already").
    assert!(
        err.message().contains("connection slots") || err.message().contains("too many clients"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.stats().open, 0, "{:?}", pool.stats());
    for c in held {
        c.close().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = pool.query(sql("SELECT 'back'")).await.unwrap();
    assert_eq!(r[0].value(0, 0).unwrap().to_string(), "back");
    pool.end().await;
    drop(cluster);
}

fn pool_for(config: Config, max: usize) -> Pool {
    pool(
        config,
        PoolOptions {
            max,
            ..Default::default()
        },
    )
}

#[test]
fn service_restarts_and_crashes_in_sequence() {
    // One test, so the heavy scenarios never overlap each other.
    run(async {
        bounded("PgBouncer restart", 120, pgbouncer_restart_under_load()).await;
        bounded("proxy kill", 120, proxy_killed_under_load()).await;
        bounded("crash recovery", 180, backend_sigkill_and_crash_recovery()).await;
    });
}
