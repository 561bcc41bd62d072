//! The WebSocket-to-TCP relay behind the `edgepg-proxy` binary (feature `proxy`).
//!
//! Edge runtimes without raw sockets reach Postgres through a WebSocket; this relays each
//! WebSocket connection to one TCP connection.
//!
//! # Behavior
//!
//! - **No framing of its own**: raw Postgres protocol bytes travel in binary frames both
//!   ways. Each TCP read becomes one binary frame; each binary frame received is written to
//!   TCP in full before the next is read, so both directions have backpressure and buffers
//!   are bounded (`max_message_size` caps frames and messages, default 16 MiB).
//! - **Upstream selection**: `GET /v2?address=host:port` (the Neon wsproxy convention; any
//!   path with an `address` parameter works, `%3A` for `:` too), or the fixed upstream when
//!   the request has no `address`.
//! - **Secure by default**: only upstreams on the allow list are reached (the fixed upstream
//!   is always on it). Matching is exact on `host:port` after lowercasing the host, with no
//!   DNS: `localhost:5432` and `127.0.0.1:5432` are different entries. A refused request is
//!   answered before the upgrade: 403 for an upstream not on the list, 400 for no or a
//!   malformed address; a plain HTTP request gets 426.
//! - **Closing**: upstream EOF → close frame 1000; upstream unreachable (refused, or no
//!   answer within `connect_timeout`) → 1011 `upstream unreachable`; client close or EOF →
//!   the TCP write half is shut down, then the socket closed; a text frame → 1003; a frame or
//!   message over the limit → 1009; proxy shutdown → 1001. Pings are answered with pongs.
//! - **Logging**: one line per connection on stderr when it ends (see [`ConnectionReport`]):
//!   client address, upstream, bytes each way, duration, how it ended. Never relayed bytes,
//!   never the URL beyond the upstream address.
//!
//! ```text
//!  driver ──ws binary frames──▶ edgepg-proxy ──TCP (NODELAY)──▶ PgBouncer / Postgres
//!         ◀──one frame per read──              ◀──────────────
//! ```

pub mod allow;
mod relay;
pub mod report;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use allow::{AllowList, Refusal, Upstream};
pub use report::ConnectionReport;

use report::{log_line, timestamp_now};

/// The address the binary listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:58080";

/// The largest WebSocket frame or message accepted by default (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// How long connecting to the upstream may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long live connections get to close after a shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the relay may reach and its limits.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    fixed_upstream: Option<Upstream>,
    allow: AllowList,
    /// The largest frame or message accepted from a client; larger ones close the
    /// connection with 1009. Upstream reads are sent in frames of at most 64 KiB (or this,
    /// when smaller).
    pub max_message_size: usize,
    /// How long connecting to the upstream may take before the WebSocket is closed with 1011.
    pub connect_timeout: Duration,
}

impl ProxyConfig {
    /// A relay to `fixed_upstream` (for requests without `address`) and the upstreams on
    /// `allow`; the fixed upstream is added to the allow list.
    pub fn new(fixed_upstream: Option<Upstream>, mut allow: AllowList) -> ProxyConfig {
        if let Some(fixed) = &fixed_upstream {
            allow.insert(fixed.clone());
        }
        ProxyConfig {
            fixed_upstream,
            allow,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The upstream of requests without an `address` parameter.
    pub fn fixed_upstream(&self) -> Option<&Upstream> {
        self.fixed_upstream.as_ref()
    }

    /// The upstreams requests may reach (including the fixed upstream).
    pub fn allow(&self) -> &AllowList {
        &self.allow
    }
}

/// Accepts connections on `listener` and relays each on its own task until `shutdown`
/// completes. Then it stops accepting, closes live connections with 1001 and returns once
/// they are closed (at most about two seconds later).
///
/// Call it inside a tokio runtime; a multi-threaded one uses every core.
pub async fn serve(listener: TcpListener, config: ProxyConfig, shutdown: impl Future<Output = ()>) {
    let config = Arc::new(config);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join_error(joined),
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    let config = config.clone();
                    let stopped = stopped.clone();
                    tasks.spawn(async move {
                        log_line(relay::handle(stream, client, config, stopped).await);
                    });
                }
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving,
                    // without spinning.
                    log_line(format_args!("{} edgepg-proxy: accept failed: {e}", timestamp_now()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let live = tasks.len();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = tasks.join_next().await {
            log_join_error(joined);
        }
    })
    .await;
    if drained.is_err() {
        log_line(format_args!(
            "{} edgepg-proxy: {} of {live} connections did not close in time; dropping them",
            timestamp_now(),
            tasks.len()
        ));
        tasks.abort_all();
    }
}

fn log_join_error(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && !e.is_cancelled()
    {
        log_line(format_args!(
            "{} edgepg-proxy: a connection task failed: {e}",
            timestamp_now()
        ));
    }
}
