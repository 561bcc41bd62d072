//! edgepg: a Postgres driver for serverless and edge runtimes, compiled to WebAssembly.
//!
//! ```no_run
//! # #[cfg(feature = "native")]
//! # async fn demo() -> edgepg::Result<()> {
//! use std::rc::Rc;
//!
//! use edgepg::proto::{Request, Statement};
//! use edgepg::proto::types::Value;
//! use edgepg::transport::tcp::{TcpConnector, TokioRuntime};
//! use edgepg::{Config, Pool, PoolOptions};
//!
//! let config = Config::parse("postgres://app:secret@127.0.0.1:6432/app?pool_max=5")?;
//! let options = PoolOptions::from_config(&config);
//! // The isolate's pool: equal config, options and transport give the same pool.
//! let db = Pool::shared(config, options, Rc::new(TcpConnector), TokioRuntime::shared(), "tcp");
//! let query = Statement::new("SELECT $1::int + 1 AS n").bind(&Value::Int4(41))?;
//! let results = db.query(Request::statement(query)).await?;
//! assert_eq!(results[0].value(0, 0)?, Value::Int4(42));
//! # Ok(())
//! # }
//! ```
//!
//! (Run natively with the `native` feature inside a tokio `LocalSet`; in JavaScript runtimes the
//! npm package in `js/` drives the same pool through the wasm surface in `src/js/`.)
//!
//! # Behavior
//!
//! - A [`Config`] exists only if the connection string parsed (URL or libpq `key=value`);
//!   errors never echo the password.
//! - Every statement uses the unnamed statement and portal: nothing outlives a request on the
//!   server, so it works through transaction-mode poolers (PgBouncer, Hyperdrive, Neon,
//!   Supabase).
//! - Failures are one opaque [`Error`] with a stable [`Error::code`], predicates, the server's
//!   [`DbError`] and an [`Outcome`] saying whether the request may have run. Nothing that came
//!   from the network or the user panics.
//!
//! # Pipelining
//!
//! Requests go out at the earliest point the server can read them, and a [`proto::Request`] of
//! several statements is one write with one Sync (one round trip, one implicit transaction):
//!
//! ```text
//!   client                                   server
//!     | Startup + SASLInitialResponse  ------>  |   (the isolate learned: SCRAM)
//!     | <------  SASLContinue                   |   round trip 1
//!     | SASLResponse + Parse/Bind/Execute/Sync ->|
//!     | <------  SASLFinal, AuthOk, ReadyForQuery, rows, ReadyForQuery   round trip 2
//!     | Parse/Bind/Execute × 3 + Sync  ------>  |   a batch
//!     | <------  3 results + ReadyForQuery      |   round trip 3
//! ```
//!
//! # Runtimes
//!
//! The protocol core ([`proto`]) does no I/O; [`driver::Client`] pumps it against a
//! [`transport::Transport`]: tokio TCP natively, a WebSocket (web-sys) or a socket handed in by
//! JavaScript (Workers `connect()`, `node:net`) on wasm, `worker::Socket` for Rust Workers
//! (feature `workers`). One `.wasm` loads unchanged in every runtime.
//!
//! # Pooling
//!
//! [`Pool`] is the isolate-scoped cache: bounded by `max`, FIFO waiting with
//! `acquire_timeout`, idle and lifetime limits measured on the wall clock (a frozen instance
//! does not reuse dead sockets), connections found dead on first use replaced transparently,
//! dirty ones discarded, and request scopes for runtimes where a socket belongs to one request.
#![warn(missing_docs)]

pub mod driver;
pub mod error;
#[cfg(target_arch = "wasm32")]
pub mod js;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod json;
pub mod pool;
pub mod proto;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod transport;

pub use driver::{CancelToken, Client, ClientOptions, RowSink};
pub use error::{DbError, Error, Outcome, Result};
pub use pool::{Pool, PoolOptions, PoolStats, ScopeId};
pub use proto::Config;

/// The npm build's JSON path for one text-format value of type `type_oid` (src/json/): the
/// JSON written and the `bytea` bytes beside it. For the fuzz harness (`fuzz/`); not API.
#[doc(hidden)]
pub fn json_value(type_oid: proto::types::Oid, raw: &[u8]) -> Result<(String, Vec<u8>)> {
    let (mut out, mut bytes) = (String::new(), Vec::new());
    json::Emitter::new(type_oid, proto::types::Format::Text).emit(&mut out, &mut bytes, raw)?;
    Ok((out, bytes))
}
