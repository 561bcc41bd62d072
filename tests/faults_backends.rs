//! Faults of the shared stack's backends, touching only this suite's own backends, roles and
//! tables: backends terminated mid-query (`pg_terminate_backend`), a pipeline whose connection
//! the server drops while it is still being written, a role's connection limit.
//!
//! After each fault: the failing call gets a clear error, other callers are unaffected where
//! the fault allows it, the pool discards the broken connection, the next query succeeds once
//! the fault is gone, and no acknowledged write is lost or duplicated (the write ledger in
//! `tests/common/ledger.rs` checks the table against what the writers were told).

mod common;
#[path = "common/ledger.rs"]
mod ledger;

use std::time::{Duration, Instant};

use common::*;
use edgepg::proto::{Request, Statement};
use edgepg::{Config, Outcome};
use futures_util::future::join_all;
use ledger::*;

// ---- backends terminated mid-query (shared stack, own backends only) ----

#[test]
fn a_terminated_backend_fails_only_its_caller_and_loses_no_acknowledged_write() {
    let app = "edgepg_faults_terminate";
    let table = "faults_terminate";
    let admin = url("EDGEPG_URL_ADMIN");
    fresh_table(&admin, table, Some("edgepg_scram"));
    run(bounded("terminate", 120, async {
        let pool = pool(tagged(config("EDGEPG_URL_SCRAM"), app), at_most(4));
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
        let killed = terminate(app, " AND query = 'SELECT pg_sleep(30)'").await;
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
            terminate(app, "").await;
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

/// Terminates the server backends of `app` that also meet `and_where` (" AND …", or ""), as
/// the admin, off the runtime's thread (psql blocks); returns how many.
async fn terminate(app: &str, and_where: &str) -> String {
    let query = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = '{app}'{and_where}"
    );
    tokio::task::spawn_blocking(move || psql(&query))
        .await
        .unwrap()
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
        let pool = pool(config("EDGEPG_URL_SCRAM"), at_most(1));
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
        let pool = pool(cfg.clone(), at_most(5));
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
