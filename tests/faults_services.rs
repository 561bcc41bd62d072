//! Services restarted and crashed under load: PgBouncer restarted (SIGTERM, then started
//! again), the proxy SIGKILLed with connections open and brought back on its port, a backend
//! SIGKILLed mid-query (the postmaster's crash recovery), then that cluster's
//! `max_connections` exhausted.
//!
//! After each fault: the failing call gets a clear error, other callers are unaffected where
//! the fault allows it, the pool discards the broken connection, the next query succeeds once
//! the fault is gone, and no acknowledged write is lost or duplicated (the write ledger in
//! `tests/common/ledger.rs` checks the table against what the writers were told).
//!
//! These scenarios stop or crash a server, so they use private instances (a PgBouncer, a proxy
//! and a small Postgres cluster started here, by the same commands scripts/stack.sh uses): the
//! shared stack, which other suites use concurrently, is never disturbed. They run in sequence
//! inside one test.

mod common;
#[path = "common/ledger.rs"]
mod ledger;
#[path = "common/services.rs"]
mod services;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use edgepg::transport::Connector;
use edgepg::transport::tcp::TokioRuntime;
use edgepg::transport::websocket_native::WsConnector;
use edgepg::{Config, Outcome, Pool, PoolOptions};
use ledger::*;
use services::*;

// ---- private services: PgBouncer, the proxy, a Postgres cluster ----

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
    let cluster = Cluster::start("postgres");
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
    let pool = common::pool(cluster.config(app), at_most(2));
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
    assert_eq!(pool_scalar(&pool, "SELECT 'back'").await, "back");
    pool.end().await;
    drop(cluster);
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
