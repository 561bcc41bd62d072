//! The one error type of edgepg.
//!
//! An [`Error`] is opaque: it carries a private kind, a message that says what to do next, and,
//! for errors the server reported, a [`DbError`] with every ErrorResponse field. Predicates
//! (`is_closed()`, `is_timeout()`, …) and [`Error::code`] (a stable string, the same one the JS
//! layer puts on `ConnectionError.code`) let callers branch without matching on text.
//!
//! Messages never contain a password: config errors describe the component that failed, not the
//! string that held it.

use std::fmt;

/// Every failure edgepg reports.
pub struct Error(Box<Inner>);

struct Inner {
    kind: Kind,
    message: String,
    db: Option<DbError>,
    outcome: Outcome,
}

/// What is known about a statement's effect when its connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was executed: the failure happened before the request could reach the server.
    NotExecuted,
    /// The request may or may not have run on the server.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The connection string or an option is malformed.
    Config,
    /// The transport could not reach the server.
    Connect,
    /// The connection closed (by the server, the network or the caller).
    Closed,
    /// A connect, query or idle deadline passed.
    Timeout,
    /// The server refused the credentials.
    Auth,
    /// The server sent bytes that break the protocol.
    Protocol,
    /// The server sent an ErrorResponse.
    Db,
    /// A value could not be decoded.
    Decode,
    /// A parameter could not be encoded.
    Encode,
    /// The pool had no connection to lend before `acquire_timeout`.
    PoolTimeout,
    /// The pool was closed with `end()`.
    PoolClosed,
    /// The server asked for something edgepg does not support (an auth method, a protocol).
    Unsupported,
    /// TLS was required and could not be set up.
    Tls,
    /// A statement of a pipeline was skipped because an earlier one failed.
    Aborted,
    /// A message or result exceeded a configured limit.
    TooLarge,
    /// The socket belongs to another request (Workers): nothing was sent. The pool retries on
    /// a connection of the current request; callers never see this kind.
    Foreign,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            db: None,
            outcome: Outcome::Unknown,
        }))
    }

    /// An application error (e.g. thrown by a transaction callback) carrying `message`.
    pub fn from_message(message: impl Into<String>) -> Error {
        Error::new(Kind::Aborted, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(Kind::Config, message).with_outcome(Outcome::NotExecuted)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(Kind::Protocol, message)
    }

    pub(crate) fn closed(message: impl Into<String>) -> Error {
        Error::new(Kind::Closed, message)
    }

    pub(crate) fn decode(message: impl Into<String>) -> Error {
        Error::new(Kind::Decode, message)
    }

    pub(crate) fn encode(message: impl Into<String>) -> Error {
        // Parameters are encoded before anything is sent.
        Error::new(Kind::Encode, message).with_outcome(Outcome::NotExecuted)
    }

    pub(crate) fn db(db: DbError) -> Error {
        // Class 28 is invalid authorization; poolers report failed SASL as 08P01.
        let auth_failed = db.code.starts_with("28")
            || (db.code == "08P01" && db.message.contains("authentication failed"));
        let kind = if auth_failed { Kind::Auth } else { Kind::Db };
        Error(Box::new(Inner {
            kind,
            message: db.message.clone(),
            db: Some(db),
            outcome: Outcome::Unknown,
        }))
    }

    /// A copy for another waiter of the same failure.
    pub(crate) fn duplicate(&self) -> Error {
        Error(Box::new(Inner {
            kind: self.0.kind,
            message: self.0.message.clone(),
            db: self.0.db.clone(),
            outcome: self.0.outcome,
        }))
    }

    pub(crate) fn with_outcome(mut self, outcome: Outcome) -> Error {
        self.0.outcome = outcome;
        self
    }

    pub(crate) fn kind(&self) -> Kind {
        self.0.kind
    }

    /// A stable, machine-readable code: the SQLSTATE for server errors, otherwise one of
    /// `config`, `refused`, `closed`, `timeout`, `auth_failed`, `protocol`, `decode`, `encode`,
    /// `pool_timeout`, `pool_closed`, `unsupported`, `tls`, `aborted`, `too_large`.
    pub fn code(&self) -> &str {
        if let Some(db) = &self.0.db {
            return &db.code;
        }
        match self.0.kind {
            Kind::Config => "config",
            Kind::Connect => "refused",
            Kind::Closed => "closed",
            Kind::Timeout => "timeout",
            Kind::Auth => "auth_failed",
            Kind::Protocol => "protocol",
            Kind::Db => "db",
            Kind::Decode => "decode",
            Kind::Encode => "encode",
            Kind::PoolTimeout => "pool_timeout",
            Kind::PoolClosed => "pool_closed",
            Kind::Unsupported => "unsupported",
            Kind::Tls => "tls",
            Kind::Aborted => "aborted",
            Kind::TooLarge => "too_large",
            Kind::Foreign => "closed",
        }
    }

    /// The server's ErrorResponse, if the server reported this error.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.0.db.as_ref()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// True when the connection is gone (closed, reset, or broken by a protocol error); the pool
    /// never lends such a connection again.
    pub fn is_closed(&self) -> bool {
        matches!(
            self.0.kind,
            Kind::Closed | Kind::Protocol | Kind::Connect | Kind::Foreign
        )
    }

    /// True when a deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.0.kind, Kind::Timeout | Kind::PoolTimeout)
    }

    /// True when the server refused the credentials (wrong password, unknown role).
    pub fn is_auth(&self) -> bool {
        self.0.kind == Kind::Auth
    }

    /// True for a malformed connection string or option.
    pub fn is_config(&self) -> bool {
        self.0.kind == Kind::Config
    }

    /// True when the error leaves the connection unusable. Server errors of class 57P (admin
    /// shutdown, terminated backend) and FATAL/PANIC severities count, as do transport and
    /// protocol failures.
    pub fn is_fatal(&self) -> bool {
        if let Some(db) = &self.0.db {
            return db.severity == "FATAL" || db.severity == "PANIC" || db.code.starts_with("57P");
        }
        !matches!(
            self.0.kind,
            Kind::Decode | Kind::Encode | Kind::Aborted | Kind::Config | Kind::PoolTimeout
        )
    }

    /// What is known about whether the failed request ran on the server.
    pub fn outcome(&self) -> Outcome {
        self.0.outcome
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code())
            .field("message", &self.0.message)
            .field("db", &self.0.db)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.db {
            Some(db) => write!(f, "{}: {} (SQLSTATE {})", db.severity, db.message, db.code),
            None => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for Error {}

/// Every field of a server ErrorResponse (or NoticeResponse).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    /// `S`/`V`: ERROR, FATAL, PANIC, WARNING, NOTICE, …
    pub severity: String,
    /// `C`: the SQLSTATE code.
    pub code: String,
    /// `M`: the primary message.
    pub message: String,
    /// `D`: detail.
    pub detail: Option<String>,
    /// `H`: hint.
    pub hint: Option<String>,
    /// `P`: a 1-based character position in the query text.
    pub position: Option<u32>,
    /// `p`: a position in an internally generated query.
    pub internal_position: Option<u32>,
    /// `q`: the internally generated query.
    pub internal_query: Option<String>,
    /// `W`: the context (call stack) the error happened in.
    pub where_: Option<String>,
    /// `s`: schema name.
    pub schema: Option<String>,
    /// `t`: table name.
    pub table: Option<String>,
    /// `c`: column name.
    pub column: Option<String>,
    /// `d`: data type name.
    pub data_type: Option<String>,
    /// `n`: constraint name.
    pub constraint: Option<String>,
    /// `F`: source file in the server.
    pub file: Option<String>,
    /// `L`: source line in the server.
    pub line: Option<u32>,
    /// `R`: source routine in the server.
    pub routine: Option<String>,
}

/// Shorthand for results of edgepg operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
