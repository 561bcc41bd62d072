//! The sans-IO Postgres protocol core: bytes and `now` in; bytes to send, events and the next
//! deadline out. Nothing here performs I/O, reads a clock or draws random numbers.

pub(crate) mod base64;
pub mod config;
pub mod connection;
pub mod message;
pub mod query;
mod response;
mod saslprep;
pub mod scram;
pub mod startup;
mod statements;
pub mod types;

pub use config::Config;
pub use connection::{
    ConnectOptions, Connection, Event, RequestId, TakenRows, TransactionStatus, TransportSecurity,
};
pub use query::{Column, Param, QueryResult, Request, Row, Statement};
pub use scram::KeyRequest;
pub use startup::{AuthHints, AuthKind};

#[cfg(test)]
mod tests;
