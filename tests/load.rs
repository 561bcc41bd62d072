//! Sustained load: 1,000 concurrent requests through one pool of 10, mixed reads and
//! transactional writes, for `EDGEPG_LOAD_SECONDS` (default 10), through PgBouncer and
//! directly to Postgres.
//!
//! Asserted: zero errors; zero lost writes (rows = 2 × acknowledged transactions, each id
//! exactly twice); the pool never holds more than `max` connections (sockets of this process
//! to PgBouncer; backends with the pool's application_name when direct); memory flat (the
//! mean RSS of the last third of the samples within a generous bound of the first third's);
//! stats consistent at the end. The numbers are printed (`--nocapture`).

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::{Client, Config, Pool};
use futures_util::future::join_all;

const CONCURRENCY: usize = 1000;
/// The two variants share this process's RSS: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
const MAX: usize = 10;

fn load_seconds() -> u64 {
    std::env::var("EDGEPG_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(10)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Established TCP connections of this process to `port` on 127.0.0.1.
fn sockets_to(port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for e in dir.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let want = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // remote address, state 01 = ESTABLISHED, inode
            f.len() > 9 && f[2] == want && f[3] == "01" && inodes.contains(f[9])
        })
        .count()
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Tally {
    reads: Cell<u64>,
    writes: Cell<u64>,
    errors: RefCell<Vec<String>>,
    acked: RefCell<Vec<i64>>,
    next_id: Cell<i64>,
    peak_connections: Cell<usize>,
    rss: RefCell<Vec<u64>>,
}

struct Report {
    seconds: u64,
    reads: u64,
    writes: u64,
    peak_connections: usize,
    rss_mib: Vec<f64>,
    first_third: f64,
    last_third: f64,
}

fn write_request(table: &str, id: i64, part: &str) -> Request {
    Request::statement(
        Statement::new(format!("INSERT INTO {table} (id, part) VALUES ($1, $2)"))
            .bind(&Value::Int8(id))
            .unwrap()
            .bind_text(Some(part)),
    )
}

/// One of the 1,000 callers: until the deadline, a transactional write (30%) or a read (70%)
/// that checks an acknowledged write is visible.
async fn caller(pool: Pool, table: Rc<String>, tally: Rc<Tally>, seed: u64, until: Instant) {
    let mut rng = Xorshift(seed | 1);
    while Instant::now() < until {
        let roll = rng.next() % 10;
        if roll < 3 {
            let id = tally.next_id.get();
            tally.next_id.set(id + 1);
            let t = table.clone();
            let result = pool
                .transaction(|tx| {
                    Box::pin(async move {
                        tx.query(write_request(&t, id, "a")).await?;
                        tx.query(write_request(&t, id, "b")).await?;
                        Ok(())
                    })
                })
                .await;
            match result {
                Ok(()) => {
                    tally.acked.borrow_mut().push(id);
                    tally.writes.set(tally.writes.get() + 1);
                }
                Err(e) => tally.errors.borrow_mut().push(format!("write {id}: {e:?}")),
            }
        } else {
            let known = {
                let acked = tally.acked.borrow();
                (!acked.is_empty()).then(|| acked[(rng.next() % acked.len() as u64) as usize])
            };
            let result = match known {
                // Read-your-writes: an acknowledged transaction's two rows are visible.
                Some(id) => pool
                    .query(Request::statement(
                        Statement::new(format!("SELECT count(*) FROM {table} WHERE id = $1"))
                            .bind(&Value::Int8(id))
                            .unwrap(),
                    ))
                    .await
                    .and_then(|r| r[0].value(0, 0))
                    .map(|v| (v.to_string(), "2".to_string(), id)),
                None => pool
                    .query(Request::statement(
                        Statement::new("SELECT $1::int8 * 2")
                            .bind(&Value::Int8(roll as i64))
                            .unwrap(),
                    ))
                    .await
                    .and_then(|r| r[0].value(0, 0))
                    .map(|v| (v.to_string(), (roll * 2).to_string(), -1)),
            };
            match result {
                Ok((got, want, _)) if got == want => tally.reads.set(tally.reads.get() + 1),
                Ok((got, want, id)) => tally
                    .errors
                    .borrow_mut()
                    .push(format!("read of {id}: got {got}, want {want}")),
                Err(e) => tally.errors.borrow_mut().push(format!("read: {e:?}")),
            }
        }
    }
}

/// Runs the load against `pool`; `connections` counts what the pool holds on the server
/// side right now (called every 100 ms).
async fn sustain(
    what: &str,
    pool: &Pool,
    table: &str,
    connections: Rc<dyn Fn() -> usize>,
) -> Report {
    let seconds = load_seconds();
    let tally = Rc::new(Tally::default());
    tally.next_id.set(1);
    let table = Rc::new(table.to_string());
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let done = Rc::new(Cell::new(false));
    let sampler = {
        let (tally, done, pool, connections) = (
            tally.clone(),
            done.clone(),
            pool.clone(),
            connections.clone(),
        );
        tokio::task::spawn_local(async move {
            // The first sample after 2 s of warm-up (connections opened, buffers grown).
            let mut last_rss = Instant::now();
            while !done.get() {
                let n = connections();
                tally
                    .peak_connections
                    .set(tally.peak_connections.get().max(n));
                let s = pool.stats();
                assert!(s.open <= MAX && s.busy <= MAX, "{s:?}");
                if last_rss.elapsed() >= Duration::from_secs(2) {
                    tally.rss.borrow_mut().push(rss_kib());
                    last_rss = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    join_all((0..CONCURRENCY).map(|i| {
        caller(
            pool.clone(),
            table.clone(),
            tally.clone(),
            0x9e37_79b9_7f4a_7c15 ^ (i as u64 * 0x1000_0000_01b3),
            until,
        )
    }))
    .await;
    done.set(true);
    sampler.await.unwrap();
    tally.rss.borrow_mut().push(rss_kib());
    let errors = tally.errors.borrow();
    assert!(
        errors.is_empty(),
        "{what}: {} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    let s = pool.stats();
    assert_eq!((s.busy, s.waiting), (0, 0), "{what}: {s:?}");
    assert!(s.open <= MAX, "{what}: {s:?}");
    assert_eq!(s.timeouts, 0, "{what}: {s:?}");

    // Every acknowledged transaction's two rows, nothing else, nothing twice.
    let counts: HashMap<i64, usize> =
        psql(&format!("SELECT id, count(*) FROM {table} GROUP BY id"))
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (id, n) = l.split_once('|').unwrap();
                (id.parse().unwrap(), n.parse().unwrap())
            })
            .collect();
    let acked = tally.acked.borrow();
    for id in acked.iter() {
        assert_eq!(
            counts.get(id),
            Some(&2),
            "{what}: acknowledged id {id} LOST or partial"
        );
    }
    assert_eq!(
        counts.len(),
        acked.len(),
        "{what}: ids nobody was told about"
    );
    let rows: usize = counts.values().sum();
    assert_eq!(rows, 2 * acked.len(), "{what}: rows vs acknowledged");

    let rss: Vec<f64> = tally
        .rss
        .borrow()
        .iter()
        .map(|k| *k as f64 / 1024.0)
        .collect();
    let third = (rss.len() / 3).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let first_third = mean(&rss[..third]);
    let last_third = mean(&rss[rss.len() - third..]);
    Report {
        seconds,
        reads: tally.reads.get(),
        writes: tally.writes.get(),
        peak_connections: tally.peak_connections.get(),
        rss_mib: rss,
        first_third,
        last_third,
    }
}

fn print_and_check(what: &str, pool: &Pool, r: &Report) {
    let s = pool.stats();
    eprintln!(
        "{what}: {}s, {CONCURRENCY} callers, max {MAX}: {} reads + {} write transactions \
         ({:.0} ops/s), 0 errors, peak server connections {}, stats {s:?}",
        r.seconds,
        r.reads,
        r.writes,
        (r.reads + r.writes) as f64 / r.seconds as f64,
        r.peak_connections
    );
    eprintln!(
        "{what}: RSS MiB samples {:?}; first third mean {:.1}, last third mean {:.1}",
        r.rss_mib
            .iter()
            .map(|m| (m * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        r.first_third,
        r.last_third
    );
    assert!(r.reads > 0 && r.writes > 0, "{what}: the mix ran");
    assert!(r.peak_connections >= 1, "{what}: the sampler saw the pool");
    assert!(
        r.peak_connections <= MAX,
        "{what}: {} connections, above max {MAX}",
        r.peak_connections
    );
    // Generous: allocator noise, a grown connection buffer or two.
    assert!(
        r.last_third <= r.first_third * 1.25 + 32.0,
        "{what}: memory grew from {:.1} to {:.1} MiB",
        r.first_third,
        r.last_third
    );
}

#[test]
fn thousand_callers_sustained_through_pgbouncer() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let table = "load_bouncer";
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id bigint, part text); \
         CREATE INDEX ON {table} (id); GRANT SELECT, INSERT ON {table} TO edgepg_scram"
    ));
    let bouncer_port = config("EDGEPG_URL_BOUNCER").port;
    run(async {
        let pool = pool(config("EDGEPG_URL_BOUNCER"), at_most(MAX));
        let report = sustain(
            "pgbouncer",
            &pool,
            table,
            Rc::new(move || sockets_to(bouncer_port)),
        )
        .await;
        print_and_check("pgbouncer", &pool, &report);
        pool.end().await;
    });
    psql(&format!("DROP TABLE {table}"));
}

#[test]
fn thousand_callers_sustained_directly_never_above_max_backends() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let table = "load_direct";
    let app = "edgepg_load_direct";
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id bigint, part text); \
         CREATE INDEX ON {table} (id); GRANT SELECT, INSERT ON {table} TO edgepg_scram"
    ));
    run(async {
        let mut cfg: Config = config("EDGEPG_URL_SCRAM");
        cfg.application_name = Some(app.into());
        let pool = pool(cfg, at_most(MAX));
        // The watcher: its own connection, counting the pool's backends every 50 ms.
        let mut watcher: Client = connect(&config("EDGEPG_URL_ADMIN")).await.unwrap();
        let peak = Rc::new(Cell::new(0usize));
        let stop = Rc::new(Cell::new(false));
        let poller = {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::task::spawn_local(async move {
                while !stop.get() {
                    let r = watcher
                        .run(sql(&format!(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
                        )))
                        .await
                        .unwrap();
                    let n: usize = r[0].value(0, 0).unwrap().to_string().parse().unwrap();
                    peak.set(peak.get().max(n));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                watcher
            })
        };
        let report = sustain("direct", &pool, table, {
            let peak = peak.clone();
            Rc::new(move || peak.get())
        })
        .await;
        stop.set(true);
        let watcher = poller.await.unwrap();
        print_and_check("direct", &pool, &report);
        pool.end().await;
        watcher.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            psql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
            )),
            "0"
        );
    });
    psql(&format!("DROP TABLE {table}"));
}
