//! Bad data on a working connection: wrong parameter types, SQL errors in every pipeline
//! position, huge rows and results, invalid UTF-8 from the server (the scripted fake server in
//! `tests/common/scripted_server.rs`), hostile parameters, and a deterministic fuzz smoke test
//! of the five fuzzed entry points.
//!
//! Each case must end in a clear error (code, kind, message), never a panic or a hang (every
//! test is bounded by a timeout), and leave no connection leaked (pool stats back to busy=0).

mod common;
#[path = "common/scripted_server.rs"]
mod scripted_server;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use edgepg::proto::types::{Format, Value, oid};
use edgepg::proto::{Param, Request, Statement};
use edgepg::{ClientOptions, Outcome, Pool, PoolOptions};
use scripted_server::*;

/// Tests that measure this process's memory run one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

fn assert_settled(pool: &Pool, what: &str) {
    let s = pool.stats();
    assert_eq!((s.busy, s.waiting), (0, 0), "{what}: {s:?}");
    assert!(s.open <= pool.options().max, "{what}: {s:?}");
}

// ---- parameters and SQL errors ----

#[test]
fn wrong_parameter_types_are_server_errors_and_the_connection_survives() {
    run(bounded("wrong types", 60, async {
        let pool = pool(config("EDGEPG_URL_SCRAM"), at_most(1));
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
            assert_eq!(
                pool_scalar(&pool, "SELECT 'still fine'").await,
                "still fine"
            );
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
        for var in DIRECT_AND_BOUNCER {
            let pool = pool(config(var), at_most(1));
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
        assert_eq!(pool_scalar(&pool, "SELECT 'after'").await, "after");
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
            assert_eq!(pool_scalar(&pool, "SELECT 'next'").await, "next");
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
        for var in DIRECT_AND_BOUNCER {
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
        let pool = pool(fake.url("sslmode=disable"), at_most(1));
        // Conn 0: the rows arrive; decoding the bad value is a decode error.
        let r = pool.query(sql("SELECT bad")).await.unwrap();
        let err = r[0].value(0, 0).unwrap_err();
        assert_eq!(err.code(), "decode", "{err:?}");
        assert!(r[0].value(1, 0).is_err());
        assert!(r[0].decoded().is_err());
        // The connection is fine and reused.
        assert_eq!(pool_scalar(&pool, "SELECT good").await, "ok");
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
        assert_eq!(pool_scalar(&pool, "SELECT good").await, "ok");
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
        let pool = pool(config("EDGEPG_URL_SCRAM"), at_most(1));
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

// ---- fuzz smoke: the five fuzzed entry points on pseudo-random input ----

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
    let targets: [Target; 5] = [
        ("backend_message", harness::backend_message),
        ("type_decode", harness::type_decode),
        ("json_value", harness::json_value),
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
    eprintln!("fuzz smoke: 5 x 3000 inputs in {:?}", started.elapsed());
}
