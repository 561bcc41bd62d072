//! Shared helpers for the integration tests: the stack's URLs, a single-threaded runtime (the
//! driver is `!Send`, as on wasm), connections and pools, psql (and the backends it sees), and
//! the security tests' check that no error shows a password or a connection URL.
#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use edgepg::proto::{Request, Statement};
use edgepg::transport::Connector;
use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
use edgepg::{Client, ClientOptions, Config, Pool, PoolOptions};

/// A URL from the stack's environment. A missing stack is a failure, never a skip.
pub fn url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the stack first with `eval \"$(scripts/stack.sh up)\"` \
             (scripts/test.sh does this)"
        )
    })
}

pub fn config(name: &str) -> Config {
    Config::parse(&url(name)).expect("stack URL parses")
}

/// The two ways to the stack's Postgres: direct, and through PgBouncer in transaction mode.
pub const DIRECT_AND_BOUNCER: [&str; 2] = ["EDGEPG_URL_SCRAM", "EDGEPG_URL_BOUNCER"];

/// `config` with an `application_name`, so the server's backends for it can be counted
/// ([`backends_of`]) or terminated.
pub fn tagged(mut config: Config, app: &str) -> Config {
    config.application_name = Some(app.to_string());
    config
}

/// Runs a future on a current-thread runtime inside a LocalSet (spawn_local works).
pub fn run<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// Awaits `f`, failing the test as a hang if it takes longer than `secs`.
pub async fn bounded<F: Future>(what: &str, secs: u64, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs}s (a hang)"),
    }
}

/// Opens a client over native TCP and waits for the handshake.
pub async fn connect(config: &Config) -> edgepg::Result<Client> {
    connect_via(&TcpConnector, config).await
}

/// Opens a client through `connector` and waits for the handshake.
pub async fn connect_via(connector: &dyn Connector, config: &Config) -> edgepg::Result<Client> {
    let mut client = Client::open(
        config,
        ClientOptions::default(),
        connector,
        TokioRuntime::shared(),
    )
    .await?;
    client.ready().await?;
    Ok(client)
}

pub fn pool(config: Config, options: PoolOptions) -> Pool {
    Pool::new(
        config,
        options,
        Rc::new(TcpConnector),
        TokioRuntime::shared(),
    )
}

/// Pool options allowing at most `max` connections, everything else at its default.
pub fn at_most(max: usize) -> PoolOptions {
    PoolOptions {
        max,
        ..Default::default()
    }
}

pub fn sql(text: &str) -> Request {
    Request::statement(Statement::new(text))
}

/// Runs SQL with psql as the admin role and returns its unaligned output.
pub fn psql(query: &str) -> String {
    psql_at(&url("EDGEPG_URL_ADMIN"), query)
}

/// Backends the server has for `app` (direct connections only: PgBouncer rewrites names).
pub fn backends_of(app: &str) -> usize {
    psql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
    ))
    .parse()
    .expect("a count")
}

/// psql with a URL (a private cluster's, or the stack's admin URL).
pub fn psql_at(url: &str, query: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", query])
        .env("PGTZ", "UTC")
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {query:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim_end_matches('\n')
        .to_string()
}

/// The first column of the first row, displayed as Postgres text.
pub async fn scalar(client: &mut Client, text: &str) -> String {
    let results = client.run(sql(text)).await.expect("query succeeds");
    results[0].value(0, 0).expect("decodes").to_string()
}

/// The first column of the first row of `text` run on `pool`, displayed as Postgres text.
pub async fn pool_scalar(pool: &Pool, text: &str) -> String {
    let results = pool.query(sql(text)).await.expect("query succeeds");
    results[0].value(0, 0).expect("decodes").to_string()
}

/// The password the security tests put in connection strings: it must never show.
pub const SECRET: &str = "Sup3r-S3cret-pw";

/// What `text` would leak, if anything: [`SECRET`] or a connection URL.
pub fn leaks(text: &str) -> Option<&'static str> {
    if text.contains(SECRET) {
        Some("the password")
    } else if text.contains("postgres://") || text.contains("postgresql://") {
        Some("a connection URL")
    } else {
        None
    }
}

/// Fails the test if `err`'s Display, Debug or message shows what [`leaks`] finds.
pub fn assert_clean(what: &str, err: &edgepg::Error) {
    for text in [
        err.to_string(),
        format!("{err:?}"),
        err.message().to_string(),
    ] {
        if let Some(leak) = leaks(&text) {
            panic!("{what}: the error shows {leak}: {text}");
        }
    }
}
