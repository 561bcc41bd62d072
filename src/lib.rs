//! edgepg: a Postgres driver for serverless and edge runtimes.
#![warn(missing_docs)]

pub mod driver;
pub mod error;
#[cfg(target_arch = "wasm32")]
pub mod js;
pub mod pool;
pub mod proto;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod transport;

pub use driver::{Client, ClientOptions};
pub use error::{DbError, Error, Outcome, Result};
pub use pool::{Pool, PoolOptions, PoolStats, ScopeId};
pub use proto::Config;
