//! The isolate-scoped pool against the real stack, direct and through PgBouncer.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use edgepg::proto::TransactionStatus;
use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
use edgepg::{Config, Pool, PoolOptions, ScopeId};
use futures_util::future::join_all;

#[test]
fn thousand_concurrent_queries_on_max_ten_direct() {
    let app = "edgepg_pool_1000";
    run(async {
        let pool = counted_pool(app, at_most(10));
        let peak = Rc::new(Cell::new(0usize));
        let done = Rc::new(Cell::new(false));
        // Watch the server while the load runs.
        let watcher = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::task::spawn_local(async move {
                while !done.get() {
                    let n = tokio::task::spawn_blocking(move || backends_of(app))
                        .await
                        .unwrap();
                    peak.set(peak.get().max(n));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let queries = (0..1000).map(|i| {
            let pool = pool.clone();
            async move {
                let r = pool
                    .query(sql(&format!("SELECT {i}, pg_sleep(0.001)")))
                    .await?;
                let v = r[0].value(0, 0)?.to_string();
                assert_eq!(v, i.to_string());
                Ok::<(), edgepg::Error>(())
            }
        });
        let results: Vec<edgepg::Result<()>> = join_all(queries).await;
        done.set(true);
        watcher.await.unwrap();
        let failures: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
        assert!(
            failures.is_empty(),
            "{} failed, first: {:?}",
            failures.len(),
            failures.first()
        );
        let stats = pool.stats();
        assert_eq!((stats.busy, stats.waiting), (0, 0), "{stats:?}");
        assert!(stats.open <= 10 && stats.created <= 10, "{stats:?}");
        assert!(stats.reused >= 990, "{stats:?}");
        assert!(peak.get() <= 10, "server saw {} backends", peak.get());
        assert!(peak.get() >= 1);
        pool.end().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(backends_of(app), 0);
    });
}

#[test]
fn thousand_concurrent_queries_through_pgbouncer() {
    run(async {
        let pool = pool(config("EDGEPG_URL_BOUNCER"), at_most(10));
        let results = join_all((0..1000).map(|i| {
            let pool = pool.clone();
            async move { pool.query(sql(&format!("SELECT {i}"))).await }
        }))
        .await;
        assert!(results.iter().all(|r| r.is_ok()));
        let stats = pool.stats();
        assert_eq!((stats.busy, stats.waiting), (0, 0));
        assert!(stats.created <= 10, "{stats:?}");
        pool.end().await;
    });
}

#[test]
fn acquire_timeout_fires_and_the_queue_recovers() {
    run(async {
        let pool = pool(
            config("EDGEPG_URL_BOUNCER"),
            PoolOptions {
                max: 1,
                acquire_timeout: Duration::from_millis(200),
                ..Default::default()
            },
        );
        let held = pool.acquire().await.unwrap();
        let err = pool.query(sql("SELECT 1")).await.unwrap_err();
        assert_eq!(err.code(), "pool_timeout");
        assert!(err.is_timeout());
        assert_eq!(err.outcome(), edgepg::Outcome::NotExecuted);
        assert_eq!(pool.stats().timeouts, 1);
        assert_eq!(pool.stats().waiting, 0);
        // A waiter in line gets the connection as soon as it is released.
        let waiter = {
            let pool = pool.clone();
            tokio::task::spawn_local(async move { pool.query(sql("SELECT 'served'")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.stats().waiting, 1);
        drop(held);
        let r = waiter.await.unwrap().unwrap();
        assert_eq!(r[0].value(0, 0).unwrap().to_string(), "served");
        pool.end().await;
    });
}

#[test]
fn a_failing_transaction_leaves_nothing_open() {
    run(async {
        for var in DIRECT_AND_BOUNCER {
            let pool = pool(config(var), at_most(1));
            pool.query(sql("CREATE TABLE IF NOT EXISTS tx_t (v text)"))
                .await
                .unwrap();
            pool.query(sql("DELETE FROM tx_t")).await.unwrap();
            // The callback fails after a successful statement: rolled back.
            let err = pool
                .transaction(|tx| {
                    Box::pin(async move {
                        tx.query(sql("INSERT INTO tx_t VALUES ('a')")).await?;
                        assert_eq!(tx.status(), TransactionStatus::InTransaction);
                        Err::<(), _>(edgepg::Error::from_message("callback threw"))
                    })
                })
                .await
                .unwrap_err();
            assert_eq!(err.message(), "callback threw");
            // A statement fails: rolled back, error surfaced.
            let err = pool
                .transaction(|tx| {
                    Box::pin(async move {
                        tx.query(sql("INSERT INTO tx_t VALUES ('b')")).await?;
                        tx.query(sql("SELECT 1/0")).await?;
                        Ok(())
                    })
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), "22012");
            // Success commits.
            pool.transaction(|tx| {
                Box::pin(async move {
                    tx.query(sql("INSERT INTO tx_t VALUES ('c')")).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
            // The next user of the (only) connection sees idle status and only 'c'.
            let mut lease = pool.acquire().await.unwrap();
            assert_eq!(lease.transaction_status(), TransactionStatus::Idle);
            let r = lease
                .run(sql("SELECT string_agg(v, ',') FROM tx_t"))
                .await
                .unwrap();
            assert_eq!(r[0].value(0, 0).unwrap().to_string(), "c");
            drop(lease);
            // A transaction dropped mid-way: the connection is discarded, not reused dirty.
            let before = pool.stats().discarded;
            {
                let mut tx = pool.begin().await.unwrap();
                tx.query(sql("INSERT INTO tx_t VALUES ('d')"))
                    .await
                    .unwrap();
            }
            assert_eq!(pool.stats().discarded, before + 1);
            let d_rows = "SELECT count(*) FROM tx_t WHERE v = 'd'";
            assert_eq!(pool_scalar(&pool, d_rows).await, "0");
            pool.end().await;
        }
    });
}

#[test]
fn a_terminated_backend_is_discarded_and_replaced() {
    run(async {
        let pool = pool(config("EDGEPG_URL_SCRAM"), at_most(1));
        let pid = pool_scalar(&pool, "SELECT pg_backend_pid()").await;
        psql(&format!("SELECT pg_terminate_backend({pid})"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The idle connection is dead: noticed before anything is written, replaced, and the
        // query runs on a fresh connection without the caller seeing an error.
        assert_ne!(pool_scalar(&pool, "SELECT pg_backend_pid()").await, pid);
        assert!(pool.stats().discarded >= 1);
        assert!(pool.stats().created == 2);
        pool.end().await;
    });
}

#[test]
fn idle_timeout_closes_server_backends() {
    let app = "edgepg_pool_idle";
    run(async {
        let pool = counted_pool(
            app,
            PoolOptions {
                max: 3,
                idle_timeout: Duration::from_millis(300),
                ..Default::default()
            },
        );
        join_all((0..3).map(|_| pool.query(sql("SELECT pg_sleep(0.05)")))).await;
        assert_eq!(pool.stats().idle, 3);
        assert_eq!(backends_of(app), 3);
        tokio::time::sleep(Duration::from_millis(900)).await;
        let stats = pool.stats();
        assert_eq!((stats.idle, stats.open), (0, 0), "{stats:?}");
        assert_eq!(backends_of(app), 0);
    });
}

#[test]
fn isolated_requests_never_wait_and_keep_at_most_max_idle() {
    // Workers mode: callers never queue behind each other, and what comes back beyond `max`
    // is closed at once, its slot uncounted without waiting for the socket to close (the
    // request owning it may end first).
    let app = "edgepg_pool_isolated";
    run(async {
        let pool = counted_pool(
            app,
            PoolOptions {
                max: 2,
                isolated_requests: true,
                ..Default::default()
            },
        );
        let results = join_all((0..6).map(|_| pool.query(sql("SELECT pg_sleep(0.1)")))).await;
        assert!(results.iter().all(|r| r.is_ok()));
        let stats = pool.stats();
        assert_eq!(stats.created, 6, "nobody waited: {stats:?}");
        assert_eq!((stats.busy, stats.idle, stats.open), (0, 2, 2), "{stats:?}");
        assert_eq!(stats.discarded, 4, "{stats:?}");
        // The retired ones were still closed politely: the server lets their backends go.
        for _ in 0..50 {
            if backends_of(app) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(backends_of(app), 2);
    });
}

#[test]
fn equal_configs_share_one_pool() {
    run(async {
        let a = shared_pool("EDGEPG_URL_SCRAM", PoolOptions::default(), "tcp");
        let b = shared_pool("EDGEPG_URL_SCRAM", PoolOptions::default(), "tcp");
        let c = shared_pool("EDGEPG_URL_BOUNCER", PoolOptions::default(), "tcp");
        let d = shared_pool("EDGEPG_URL_SCRAM", at_most(2), "tcp");
        assert!(a.same_pool(&b));
        assert!(!a.same_pool(&c));
        assert!(!a.same_pool(&d));
        let other_transport = shared_pool("EDGEPG_URL_SCRAM", PoolOptions::default(), "websocket");
        assert!(!a.same_pool(&other_transport));
        a.query(sql("SELECT 1")).await.unwrap();
        assert_eq!(b.stats().created, 1);
        a.end().await;
        let e = shared_pool("EDGEPG_URL_SCRAM", PoolOptions::default(), "tcp");
        assert!(!e.same_pool(&a), "an ended pool is not handed out again");
    });
}

#[test]
fn url_parameters_configure_the_pool() {
    let cfg = Config::parse(&format!(
        "{}?pool_max=3&idle_timeout=2&acquire_timeout=0.5&max_lifetime=60",
        url("EDGEPG_URL_SCRAM")
    ))
    .unwrap();
    let o = PoolOptions::from_config(&cfg);
    assert_eq!(o.max, 3);
    assert_eq!(o.idle_timeout, Duration::from_secs(2));
    assert_eq!(o.acquire_timeout, Duration::from_millis(500));
    assert_eq!(o.max_lifetime, Some(Duration::from_secs(60)));
    let err = Config::parse(&format!("{}?pool_size=3", url("EDGEPG_URL_SCRAM"))).unwrap_err();
    assert!(err.message().contains("unknown connection parameter"));
}

#[test]
fn scopes_never_lend_a_connection_outside_its_scope() {
    run(async {
        let pool = pool(config("EDGEPG_URL_BOUNCER"), at_most(2));
        let (a, b) = (ScopeId(1), ScopeId(2));
        let pid_a = pool.query_in(a, sql("SELECT 1")).await.unwrap();
        drop(pid_a);
        assert_eq!(pool.stats().idle, 1);
        // Scope b does not get a's idle connection: it opens its own.
        pool.query_in(b, sql("SELECT 1")).await.unwrap();
        assert_eq!(pool.stats().created, 2);
        // Scope a reuses its own.
        pool.query_in(a, sql("SELECT 1")).await.unwrap();
        assert_eq!(pool.stats().created, 2);
        // Ending a scope closes its connections; the shared auth knowledge stays.
        pool.end_scope(a).await;
        assert_eq!(pool.stats().idle, 1);
        assert!(
            pool.query_in(a, sql("SELECT 1")).await.is_err(),
            "ended scope"
        );
        // At the limit, a new scope retires another scope's idle connection to get a slot.
        let c = ScopeId(3);
        pool.query_in(c, sql("SELECT 1")).await.unwrap();
        let d = ScopeId(4);
        pool.query_in(d, sql("SELECT 1")).await.unwrap();
        let stats = pool.stats();
        assert!(stats.open <= 2, "{stats:?}");
        pool.end().await;
    });
}

#[test]
fn scram_first_row_in_three_round_trips_then_two_then_one() {
    run(async {
        for var in DIRECT_AND_BOUNCER {
            let pool = pool(
                config(var),
                PoolOptions {
                    max: 1,
                    idle_timeout: Duration::from_millis(100),
                    ..Default::default()
                },
            );
            let mut last = 0;
            let mut delta = |pool: &Pool| {
                let now = pool.stats().round_trips;
                let d = now - last;
                last = now;
                d
            };
            // First contact: Startup; SASLInitialResponse; SASLResponse + query.
            pool.query(sql("SELECT 1")).await.unwrap();
            assert_eq!(delta(&pool), 3, "{var} first contact");
            // The idle connection expires; the next one knows the server wants SCRAM and has
            // its keys: Startup + client-first; client-final + query.
            tokio::time::sleep(Duration::from_millis(250)).await;
            pool.query(sql("SELECT 1")).await.unwrap();
            assert_eq!(delta(&pool), 2, "{var} with learned hints");
            assert_eq!(pool.stats().created, 2);
            // Warm: one round trip.
            pool.query(sql("SELECT 1")).await.unwrap();
            assert_eq!(delta(&pool), 1, "{var} warm");
            // A transaction: BEGIN rides with the first statement, COMMIT is one more.
            pool.transaction(|tx| {
                Box::pin(async move {
                    tx.query(sql("SELECT 1")).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
            assert_eq!(delta(&pool), 2, "{var} transaction");
            pool.end().await;
        }
    });
}

/// A direct pool tagged `app`, so [`backends_of`] counts its connections at the server.
fn counted_pool(app: &str, options: PoolOptions) -> Pool {
    pool(tagged(config("EDGEPG_URL_SCRAM"), app), options)
}

/// The isolate registry's pool for the stack URL in `var`, over native TCP, registered under
/// the transport key `transport`.
fn shared_pool(var: &str, options: PoolOptions, transport: &str) -> Pool {
    Pool::shared(
        config(var),
        options,
        Rc::new(TcpConnector),
        TokioRuntime::shared(),
        transport,
    )
}
