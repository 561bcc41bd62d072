//! Queries against the real stack: pipelines, errors mid-pipeline, large results, PgBouncer.

mod common;

use common::*;
use edgepg::proto::types::{Format, Value};
use edgepg::proto::{Request, Statement, TransactionStatus};

#[test]
fn parameters_and_row_counts() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_SCRAM")).await.unwrap();
        let stmt = Statement::new("SELECT $1::int + $2::int AS sum, $3::text AS t")
            .bind(&Value::Int4(40))
            .unwrap()
            .bind(&Value::Int4(2))
            .unwrap()
            .bind_text(Some("héllo"));
        let r = c.run(Request::statement(stmt)).await.unwrap();
        assert_eq!(r[0].columns[0].name, "sum");
        assert_eq!(r[0].value(0, 0).unwrap(), Value::Int4(42));
        assert_eq!(r[0].value(0, 1).unwrap(), Value::Text("héllo".into()));
        assert_eq!(r[0].rows_affected, Some(1));

        c.run(sql("CREATE TEMP TABLE t (id int)")).await.unwrap();
        let r = c
            .run(sql("INSERT INTO t SELECT generate_series(1, 5)"))
            .await
            .unwrap();
        assert_eq!(r[0].command, "INSERT 0 5");
        assert_eq!(r[0].rows_affected, Some(5));
        let r = c
            .run(sql("UPDATE t SET id = id + 1 WHERE id > 2"))
            .await
            .unwrap();
        assert_eq!(r[0].rows_affected, Some(3));
        let r = c.run(sql("")).await.unwrap();
        assert_eq!(r[0].command, "");
        c.close().await;
    });
}

#[test]
fn simple_protocol_runs_several_statements() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_TRUST")).await.unwrap();
        let r = c
            .run(Request::Simple(
                "SELECT 1; SELECT 'a', 'b'; SET LOCAL work_mem = '1MB'".into(),
            ))
            .await
            .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].value(0, 1).unwrap().to_string(), "b");
        assert_eq!(r[2].command, "SET");
        c.close().await;
    });
}

#[test]
fn error_mid_batch_aborts_the_rest_and_rolls_back() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_BOUNCER")).await.unwrap();
        c.run(sql(
            "CREATE TABLE IF NOT EXISTS batch_t (id int primary key)",
        ))
        .await
        .unwrap();
        c.run(sql("DELETE FROM batch_t")).await.unwrap();
        let batch = Request::Extended(vec![
            Statement::new("INSERT INTO batch_t VALUES (1)"),
            Statement::new("SELECT 1/0"),
            Statement::new("INSERT INTO batch_t VALUES (2)"),
        ]);
        let err = c.run(batch).await.unwrap_err();
        assert_eq!(err.code(), "22012");
        let db = err.as_db_error().unwrap();
        assert_eq!(db.severity, "ERROR");
        assert!(db.routine.is_some());
        // One implicit transaction: the first insert was rolled back too.
        assert_eq!(scalar(&mut c, "SELECT count(*) FROM batch_t").await, "0");
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        c.close().await;
    });
}

#[test]
fn independent_pipelined_requests_fail_independently() {
    run(async {
        for var in DIRECT_AND_BOUNCER {
            let mut c = connect(&config(var)).await.unwrap();
            let answers = c
                .run_pipeline(vec![sql("SELECT 1"), sql("SELECT nope"), sql("SELECT 3")])
                .await;
            assert_eq!(
                answers[0].as_ref().unwrap()[0].value(0, 0).unwrap(),
                Value::Int4(1)
            );
            let err = answers[1].as_ref().unwrap_err();
            assert_eq!(err.code(), "42703");
            assert_eq!(err.as_db_error().unwrap().position, Some(8));
            assert_eq!(
                answers[2].as_ref().unwrap()[0].value(0, 0).unwrap(),
                Value::Int4(3)
            );
            // The connection is still usable.
            assert_eq!(scalar(&mut c, "SELECT 'ok'").await, "ok");
            c.close().await;
        }
    });
}

#[test]
fn explicit_transaction_status_is_tracked() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_BOUNCER")).await.unwrap();
        c.run(sql("BEGIN")).await.unwrap();
        assert_eq!(c.transaction_status(), TransactionStatus::InTransaction);
        assert!(c.run(sql("SELECT 1/0")).await.is_err());
        assert_eq!(c.transaction_status(), TransactionStatus::Failed);
        let err = c.run(sql("SELECT 1")).await.unwrap_err();
        assert_eq!(err.code(), "25P02");
        let r = c.run(sql("COMMIT")).await.unwrap();
        assert_eq!(r[0].command, "ROLLBACK");
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        c.close().await;
    });
}

#[test]
fn hundred_thousand_rows_in_both_formats() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_BOUNCER")).await.unwrap();
        for format in [Format::Text, Format::Binary] {
            let stmt =
                Statement::new("SELECT i, 'row ' || i AS label FROM generate_series(1, 100000) i")
                    .with_result_format(format);
            let r = c.run(Request::statement(stmt)).await.unwrap();
            assert_eq!(r[0].rows.len(), 100_000);
            assert_eq!(r[0].rows_affected, Some(100_000));
            let mut sum = 0i64;
            for row in r[0].decoded().unwrap() {
                if let Value::Int4(i) = row[0] {
                    sum += i as i64;
                }
            }
            assert_eq!(sum, 5_000_050_000);
            assert_eq!(
                r[0].value(99_999, 1).unwrap(),
                Value::Text("row 100000".into())
            );
        }
        c.close().await;
    });
}

#[test]
fn max_result_bytes_fails_the_request_not_the_connection() {
    run(async {
        let cfg = config("EDGEPG_URL_TRUST");
        let options = edgepg::ClientOptions {
            max_result_bytes: 10_000,
            ..Default::default()
        };
        let mut c = edgepg::Client::open(
            &cfg,
            options,
            &edgepg::transport::tcp::TcpConnector,
            edgepg::transport::tcp::TokioRuntime::shared(),
        )
        .await
        .unwrap();
        let err = c
            .run(sql("SELECT repeat('x', 1000) FROM generate_series(1, 100)"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "too_large");
        assert_eq!(scalar(&mut c, "SELECT 'still fine'").await, "still fine");
        c.close().await;
    });
}

#[test]
fn notices_do_not_disturb_results_and_copy_is_refused_cleanly() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_TRUST")).await.unwrap();
        let r = c
            .run(Request::Simple(
                "DO $$ BEGIN RAISE NOTICE 'hi'; END $$; SELECT 5".into(),
            ))
            .await
            .unwrap();
        assert_eq!(r[1].value(0, 0).unwrap().to_string(), "5");
        let err = c
            .run(Request::Simple("COPY (SELECT 1) TO STDOUT".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unsupported");
        c.run(sql("CREATE TEMP TABLE cp (i int)")).await.unwrap();
        let err = c
            .run(Request::Simple("COPY cp FROM STDIN".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "57014", "{err:?}");
        assert_eq!(scalar(&mut c, "SELECT 'usable'").await, "usable");
        c.close().await;
    });
}

#[test]
fn terminated_backend_is_reported_as_closed() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_SCRAM")).await.unwrap();
        let pid = scalar(&mut c, "SELECT pg_backend_pid()").await;
        psql(&format!("SELECT pg_terminate_backend({pid})"));
        let err = c.run(sql("SELECT 1")).await.unwrap_err();
        assert!(err.is_fatal(), "{err:?}");
        assert!(c.is_closed());
    });
}

#[test]
fn cancel_request_stops_a_running_statement() {
    run(async {
        for var in DIRECT_AND_BOUNCER {
            let mut c = connect(&config(var)).await.unwrap();
            let token = c
                .cancel_token()
                .expect("a ready connection has a backend key");
            let canceller = tokio::task::spawn_local(async move {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                token
                    .cancel(
                        &edgepg::transport::tcp::TcpConnector,
                        &edgepg::transport::tcp::TokioRuntime,
                    )
                    .await
            });
            let started = std::time::Instant::now();
            let err = c.run(sql("SELECT pg_sleep(10)")).await.unwrap_err();
            assert_eq!(err.code(), "57014", "{var}: {err:?}");
            assert!(started.elapsed().as_secs() < 5);
            canceller.await.unwrap().unwrap();
            // The connection survives a cancel.
            assert_eq!(scalar(&mut c, "SELECT 'after'").await, "after");
            c.close().await;
        }
    });
}

/// Collects what a [`RowSink`] is handed: (request, statement, first value, row count).
#[derive(Default)]
struct Collect {
    runs: std::cell::RefCell<Vec<(usize, usize, i64, usize)>>,
}

impl edgepg::RowSink for Collect {
    fn part_bytes(&self) -> usize {
        64 * 1024
    }
    fn rows(
        &self,
        request: usize,
        statement: usize,
        columns: &[edgepg::proto::Column],
        rows: Vec<edgepg::proto::Row>,
    ) {
        let first = edgepg::proto::QueryResult {
            columns: columns.to_vec(),
            rows: rows[..1].to_vec(),
            ..Default::default()
        };
        let first = match first.value(0, 0).unwrap() {
            Value::Int4(v) => i64::from(v),
            other => panic!("unexpected {other:?}"),
        };
        self.runs
            .borrow_mut()
            .push((request, statement, first, rows.len()));
    }
}

#[test]
fn a_row_sink_gets_large_results_while_they_arrive_in_order() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_SCRAM")).await.unwrap();
        let sink = std::rc::Rc::new(Collect::default());
        c.set_row_sink(Some(sink.clone()));
        // Statement 0 small (stays whole), statement 1 large (handed out in runs).
        let r = c
            .run(Request::Simple(
                "SELECT 1; SELECT g, repeat('x', 50) FROM generate_series(1, 50000) g".into(),
            ))
            .await
            .unwrap();
        let runs = sink.runs.take();
        assert!(runs.len() >= 10, "{} runs", runs.len());
        assert!(runs.iter().all(|&(req, stmt, _, _)| req == 0 && stmt == 1));
        // Runs and the final tail cover 1..=50000 exactly once, in order.
        let mut next = 1i64;
        for &(_, _, first, n) in &runs {
            assert_eq!(first, next);
            next += n as i64;
        }
        assert_eq!(r[0].rows.len(), 1);
        let tail = &r[1];
        assert_eq!(tail.value(0, 0).unwrap(), Value::Int4(next as i32));
        assert_eq!(next - 1 + tail.rows.len() as i64, 50_000);
        assert_eq!(tail.rows_affected, Some(50_000));

        // A statement failing after some runs were handed out fails the request; the
        // connection stays usable.
        let err = c
            .run(sql(
                "SELECT g, 1 / (g - 40000) AS boom, repeat('x', 50) FROM generate_series(1, 50000) g",
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "22012", "{err}");
        assert!(
            !sink.runs.take().is_empty(),
            "rows arrived before the error"
        );
        c.set_row_sink(None);
        let r = c.run(sql("SELECT 2")).await.unwrap();
        assert_eq!(r[0].rows.len(), 1);
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        c.close().await;
    });
}

/// The session's prepared statements as `name=executions`, by a simple query (never prepared).
async fn prepared(c: &mut edgepg::Client) -> String {
    let q = "SELECT coalesce(string_agg(name || '=' || (generic_plans + custom_plans), ' ' \
             ORDER BY name), '') FROM pg_prepared_statements";
    let r = c.run(Request::Simple(q.into())).await.unwrap();
    r[0].value(0, 0).unwrap().to_string()
}

#[test]
fn the_opt_in_statement_cache_prepares_once_and_recovers_when_the_server_forgets() {
    run(async {
        // `statement_cache=2` in the URL, as a deployment would set it (direct connections).
        let base = url("EDGEPG_URL_SCRAM");
        let sep = if base.contains('?') { '&' } else { '?' };
        let config = edgepg::Config::parse(&format!("{base}{sep}statement_cache=2")).unwrap();
        assert_eq!(config.pool.statement_cache, Some(2));
        let mut c = connect(&config).await.unwrap();
        let add = |n: i32| {
            Request::statement(
                Statement::new("SELECT $1::int + 1")
                    .bind(&Value::Int4(n))
                    .unwrap(),
            )
        };
        for n in 0..3 {
            let r = c.run(add(n)).await.unwrap();
            assert_eq!(r[0].value(0, 0).unwrap(), Value::Int4(n + 1));
        }
        // Parsed once, executed three times on its name.
        assert_eq!(prepared(&mut c).await, "edgepg_s1=3");

        // More statements than the cache holds: the least recently used one is evicted and
        // closed on the server with the next extended request.
        c.run(sql("SELECT 2")).await.unwrap(); // s2
        c.run(sql("SELECT 3")).await.unwrap(); // s3, evicts s1
        c.run(add(9)).await.unwrap(); // closes s1; s4, evicts s2
        assert_eq!(
            prepared(&mut c).await,
            "edgepg_s2=1 edgepg_s3=1 edgepg_s4=1"
        );
        c.run(sql("SELECT 3")).await.unwrap(); // closes s2; s3 from the cache
        assert_eq!(prepared(&mut c).await, "edgepg_s3=2 edgepg_s4=1");

        // Someone deallocates: that use fails (before running), the next prepares anew.
        c.run(Request::Simple("DEALLOCATE ALL".into()))
            .await
            .unwrap();
        let err = c.run(sql("SELECT 3")).await.unwrap_err();
        assert_eq!(err.code(), "26000", "{err}");
        let r = c.run(sql("SELECT 3")).await.unwrap();
        assert_eq!(r[0].value(0, 0).unwrap(), Value::Int4(3));

        // A table changes under a cached `SELECT *`: one failure, then the new shape.
        c.run(Request::Simple(
            "CREATE TEMP TABLE shape (a int); INSERT INTO shape VALUES (1)".into(),
        ))
        .await
        .unwrap();
        assert_eq!(
            c.run(sql("SELECT * FROM shape")).await.unwrap()[0]
                .columns
                .len(),
            1
        );
        c.run(Request::Simple("ALTER TABLE shape ADD COLUMN b int".into()))
            .await
            .unwrap();
        let err = c.run(sql("SELECT * FROM shape")).await.unwrap_err();
        assert_eq!(err.code(), "0A000", "{err}");
        assert_eq!(
            c.run(sql("SELECT * FROM shape")).await.unwrap()[0]
                .columns
                .len(),
            2
        );
        assert_eq!(c.transaction_status(), TransactionStatus::Idle);
        c.close().await;
    });
}
