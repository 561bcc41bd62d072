//! One Postgres connection as a state machine: bytes and `now` in; bytes, events and the next
//! deadline out.
//!
//! # How the driver calls it
//!
//! 1. [`Connection::new`] writes the first bytes (SSLRequest or StartupMessage) into its output.
//! 2. Loop:
//!    - [`Connection::poll_transmit`] — append pending bytes to the caller's buffer; write them
//!      to the transport as one write (one WebSocket frame).
//!    - [`Connection::poll_event`] — drain events ([`Event::Ready`], [`Event::Complete`],
//!      [`Event::StartTls`], notices).
//!    - [`Connection::poll_timeout`] — the next deadline (ms, on the caller's clock); when it
//!      passes call [`Connection::handle_timeout`].
//!    - Read from the transport; feed the bytes to [`Connection::handle_input`], or call
//!      [`Connection::handle_eof`] when the transport closed.
//! 3. [`Connection::submit`] queues a [`Request`] at any time, even during the handshake: it is
//!    written at the earliest point the server can read it, and answered by an
//!    [`Event::Complete`] carrying the same [`RequestId`].
//! 4. After [`Event::StartTls`] the driver upgrades the transport and calls
//!    [`Connection::handle_tls_established`].
//! 5. After [`Event::DeriveKey`] (SCRAM without cached keys) the driver runs PBKDF2, natively
//!    where the host can, and calls [`Connection::handle_salted_password`].
//!
//! Once [`Connection::is_closed`] is true, every pending request has been completed with an
//! error and the transport should be closed (after flushing `poll_transmit`, which may hold a
//! Terminate).

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::error::{DbError, Error, Kind, Outcome, Result};
use crate::proto::config::Config;
use crate::proto::message::{DEFAULT_MAX_MESSAGE_SIZE, db_error, next_message};
use crate::proto::query::{QueryResult, Request};
pub use crate::proto::response::TakenRows;
use crate::proto::response::{InFlight, Next, bad_utf8, transaction_status};
use crate::proto::scram::{KeyRequest, salted_out_of_order};
use crate::proto::startup::{AuthHints, Handshake, Step};
use crate::proto::statements::StatementCache;

/// Settings of one connection that do not come from the connection string.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The SCRAM client nonce: printable ASCII without commas, fresh and random per connection.
    pub nonce: String,
    /// What earlier connections learned about this server.
    pub hints: AuthHints,
    /// What the transport offers for TLS.
    pub transport: TransportSecurity,
    /// The largest backend message accepted.
    pub max_message_size: usize,
    /// The most row bytes one request may return; more is an error (the rows are dropped as they
    /// arrive, and the connection stays usable).
    pub max_result_bytes: usize,
    /// Deadline for each request's answer, in ms.
    pub query_timeout_ms: Option<u64>,
    /// How many named prepared statements to keep (0: none, every statement unnamed). Only
    /// for direct connections: see `proto::statements`.
    pub statement_cache: usize,
}

/// What a transport can do for TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportSecurity {
    /// Plain bytes, no TLS possible (e.g. `ws://` to a proxy, the native test transport).
    Plain,
    /// Plain now, can switch to TLS after SSLRequest (Workers `startTls()`).
    StartTls,
    /// Already encrypted end to end or to a trusted proxy (`wss://`).
    Secure,
}

/// Identifies a submitted request in its [`Event::Complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

/// The server's transaction status from the last ReadyForQuery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block.
    Idle,
    /// In a transaction block.
    InTransaction,
    /// In a failed transaction block: only ROLLBACK will be accepted.
    Failed,
}

/// What the connection reports to the driver.
#[derive(Debug)]
pub enum Event {
    /// The handshake finished: the first ReadyForQuery arrived.
    Ready,
    /// The server agreed to TLS: upgrade the transport, then call `handle_tls_established`.
    StartTls,
    /// SCRAM needs the salted password: run PBKDF2 (the host's own where it has one, else
    /// [`KeyRequest::derive`]), then call `handle_salted_password`.
    DeriveKey(KeyRequest),
    /// A request was answered (or failed).
    Complete {
        /// The request.
        id: RequestId,
        /// One result per statement, or the first error.
        result: Result<Vec<QueryResult>>,
    },
    /// A NoticeResponse (warnings, `RAISE NOTICE`).
    Notice(Box<DbError>),
    /// A NotificationResponse (`NOTIFY`).
    Notification {
        /// The notifying backend's process id.
        process_id: i32,
        /// The channel name.
        channel: String,
        /// The payload.
        payload: String,
    },
}

/// The sans-IO connection. See the module docs for the calling order.
pub struct Connection {
    config: Config,
    phase: Phase,
    options: ConnectOptions,
    tx_status: TransactionStatus,
    input: BytesMut,
    output: BytesMut,
    queued: VecDeque<(RequestId, Request)>,
    inflight: VecDeque<InFlight>,
    can_send: bool,
    events: VecDeque<Event>,
    parameters: Vec<(String, String)>,
    backend_key: Option<(i32, i32)>,
    learned: AuthHints,
    connect_deadline: Option<u64>,
    next_id: u64,
    closed: Option<Error>,
    stale_hint: bool,
    statements: StatementCache,
}

enum Phase {
    SslRequest,
    TlsUpgrade,
    Startup(Box<Handshake>),
    Authenticated,
    Ready,
    Closed,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            nonce: String::new(),
            hints: AuthHints::default(),
            transport: TransportSecurity::Plain,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_result_bytes: usize::MAX,
            query_timeout_ms: None,
            statement_cache: 0,
        }
    }
}

impl Connection {
    /// Starts a connection; the first bytes to send are ready in `poll_transmit`.
    pub fn new(config: &Config, options: ConnectOptions, now_ms: u64) -> Connection {
        let mut conn = Connection {
            config: config.clone(),
            phase: Phase::SslRequest,
            tx_status: TransactionStatus::Idle,
            input: BytesMut::with_capacity(8 * 1024),
            output: BytesMut::with_capacity(1024),
            queued: VecDeque::new(),
            inflight: VecDeque::new(),
            can_send: false,
            events: VecDeque::new(),
            parameters: Vec::new(),
            backend_key: None,
            learned: AuthHints::default(),
            connect_deadline: config
                .connect_timeout
                .map(|t| now_ms.saturating_add(t.as_millis() as u64)),
            next_id: 0,
            closed: None,
            stale_hint: false,
            statements: StatementCache::new(options.statement_cache),
            options,
        };
        let wants_tls = !matches!(
            config.ssl_mode,
            crate::proto::config::SslMode::Disable | crate::proto::config::SslMode::Allow
        );
        match conn.options.transport {
            TransportSecurity::StartTls if wants_tls => frontend::ssl_request(&mut conn.output),
            TransportSecurity::Plain if config.ssl_required() => conn.fail(Error::new(
                Kind::Tls,
                "sslmode requires TLS but this transport cannot provide it: use a wss:// \
                 WebSocket URL, a runtime with TLS sockets, or sslmode=disable for a trusted \
                 network",
            )),
            _ => conn.start_startup(now_ms),
        }
        conn
    }

    /// Queues a request. It is written as soon as the server can read it.
    pub fn submit(&mut self, request: Request, now_ms: u64) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        if let Some(err) = &self.closed {
            let err = err.duplicate().with_outcome(Outcome::NotExecuted);
            self.events.push_back(Event::Complete {
                id,
                result: Err(err),
            });
            return id;
        }
        self.queued.push_back((id, request));
        if self.can_send {
            self.write_queued(now_ms);
        }
        id
    }

    /// Takes out the rows received so far for the statement now running, once they hold at
    /// least `min_bytes`, so a caller can consume a large result while it still arrives (the
    /// final [`QueryResult`] then holds only the rows after the last take). `None` when fewer
    /// bytes are held, or when the request already failed (its rows will not be returned).
    pub fn take_rows(&mut self, min_bytes: usize) -> Option<TakenRows<'_>> {
        self.inflight.front_mut()?.take_rows(min_bytes)
    }

    /// Feeds bytes read from the transport.
    pub fn handle_input(&mut self, data: &[u8], now_ms: u64) {
        if self.closed.is_some() {
            return;
        }
        self.input.extend_from_slice(data);
        if let Err(e) = self.process(now_ms) {
            self.fail(e);
        }
    }

    /// The transport reached end of stream (the peer closed).
    pub fn handle_eof(&mut self) {
        if self.closed.is_some() {
            return;
        }
        let during = match self.phase {
            Phase::Ready => "",
            _ => " during startup",
        };
        self.fail(Error::closed(format!(
            "the server closed the connection{during} (it may have been terminated, restarted, \
             or a pooler or proxy dropped it)"
        )));
    }

    /// The transport failed with `error` (its message never holds credentials). During the
    /// handshake a transport failure is reported as a connect failure.
    pub fn handle_transport_error(&mut self, error: Error) {
        if self.closed.is_some() {
            return;
        }
        let error = if error.kind() == Kind::Closed && !matches!(self.phase, Phase::Ready) {
            Error::new(Kind::Connect, error.message().to_string())
        } else {
            error
        };
        self.fail(error);
    }

    /// The transport now speaks TLS (after [`Event::StartTls`]).
    pub fn handle_tls_established(&mut self, now_ms: u64) {
        if matches!(self.phase, Phase::TlsUpgrade) {
            self.start_startup(now_ms);
        }
    }

    /// The salted password an [`Event::DeriveKey`] asked for: client-final is written, with
    /// the requests queued meanwhile.
    pub fn handle_salted_password(&mut self, salted: [u8; 32], now_ms: u64) {
        if self.closed.is_some() {
            return;
        }
        let result = match &mut self.phase {
            Phase::Startup(handshake) => handshake.salted(salted, &mut self.output),
            _ => Err(salted_out_of_order()),
        };
        match result {
            Ok(step) => self.startup_step(step, now_ms),
            Err(e) => self.fail(e),
        }
    }

    /// Checks deadlines against `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.closed.is_some() {
            return;
        }
        if let Some(deadline) = self.connect_deadline
            && now_ms >= deadline
            && !matches!(self.phase, Phase::Ready)
        {
            // `Duration`'s Debug (`10s`, `1.5s`, `250ms`) prints without float formatting.
            let timeout = self.config.connect_timeout.unwrap_or_default();
            self.fail(Error::new(
                Kind::Timeout,
                format!(
                    "connecting to {} did not complete within connect_timeout ({timeout:?}): \
                     check that the host is reachable and the server is up",
                    self.config.display_target()
                ),
            ));
            return;
        }
        if self
            .inflight
            .front()
            .and_then(|f| f.deadline)
            .is_some_and(|d| now_ms >= d)
        {
            self.fail(Error::new(
                Kind::Timeout,
                "the server did not answer within query_timeout; the connection was closed (the \
                 statement may still have run)",
            ));
        }
    }

    /// Closes the connection politely: queues Terminate and fails whatever is pending.
    pub fn close(&mut self) {
        if self.closed.is_none() {
            if !matches!(self.phase, Phase::SslRequest | Phase::TlsUpgrade) {
                frontend::terminate(&mut self.output);
            }
            self.fail(Error::closed("the connection was closed by the client"));
        }
    }

    /// Appends the bytes to send to `out`.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.output);
        } else {
            out.extend_from_slice(&self.output);
            self.output.clear();
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline, on the caller's clock (ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        let connect = self
            .connect_deadline
            .filter(|_| !matches!(self.phase, Phase::Ready));
        let query = self.inflight.front().and_then(|f| f.deadline);
        match (connect, query) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True once the handshake finished and the connection is open.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready) && self.closed.is_none()
    }

    /// True once the connection is unusable.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// The error that closed the connection.
    pub fn close_reason(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    /// True when nothing is queued or awaiting an answer.
    pub fn is_idle(&self) -> bool {
        self.queued.is_empty() && self.inflight.is_empty()
    }

    /// The transaction status of the last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.tx_status
    }

    /// A server parameter reported by ParameterStatus (`server_version`, `TimeZone`, …).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The backend process id and secret key, for CancelRequest.
    pub fn backend_key(&self) -> Option<(i32, i32)> {
        self.backend_key
    }

    /// What the handshake learned (auth method, SCRAM keys), for the next connection's hints.
    pub fn learned_hints(&self) -> &AuthHints {
        &self.learned
    }

    /// True when the handshake failed because a learned hint no longer holds: reconnect
    /// without hints.
    pub fn failed_on_stale_hint(&self) -> bool {
        self.stale_hint
    }

    fn start_startup(&mut self, now_ms: u64) {
        let mut handshake = Box::new(Handshake::new(
            &self.config,
            self.options.nonce.clone(),
            self.options.hints.clone(),
        ));
        match handshake.start(&self.config, &mut self.output) {
            Ok(early) => {
                self.phase = Phase::Startup(handshake);
                if early {
                    self.can_send = true;
                    self.write_queued(now_ms);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn write_queued(&mut self, now_ms: u64) {
        while let Some((id, request)) = self.queued.pop_front() {
            let mark = self.output.len();
            match request.encode(&mut self.output, &mut self.statements) {
                Ok(parses) => self.inflight.push_back(InFlight::new(
                    id,
                    parses,
                    self.options
                        .query_timeout_ms
                        .map(|t| now_ms.saturating_add(t)),
                )),
                Err(e) => {
                    self.output.truncate(mark);
                    self.events.push_back(Event::Complete {
                        id,
                        result: Err(e.with_outcome(Outcome::NotExecuted)),
                    });
                }
            }
        }
    }

    fn process(&mut self, now_ms: u64) -> Result<()> {
        loop {
            match self.phase {
                Phase::SslRequest => {
                    let Some(&byte) = self.input.first() else {
                        return Ok(());
                    };
                    self.input.advance(1);
                    match byte {
                        b'S' => {
                            if !self.input.is_empty() {
                                return Err(Error::protocol(
                                    "the server sent data after accepting TLS, before the TLS \
                                     handshake (possible man-in-the-middle)",
                                ));
                            }
                            self.phase = Phase::TlsUpgrade;
                            self.events.push_back(Event::StartTls);
                            return Ok(());
                        }
                        b'N' if self.config.ssl_required() => {
                            return Err(Error::new(
                                Kind::Tls,
                                "the server does not support TLS but sslmode requires it",
                            ));
                        }
                        b'N' => self.start_startup(now_ms),
                        _ => {
                            return Err(Error::protocol(
                                "the server answered SSLRequest with neither S nor N",
                            ));
                        }
                    }
                }
                Phase::TlsUpgrade | Phase::Closed => return Ok(()),
                _ => {
                    let Some(message) =
                        next_message(&mut self.input, self.options.max_message_size)?
                    else {
                        return Ok(());
                    };
                    self.dispatch(message, now_ms)?;
                    if self.closed.is_some() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Hands one message to the phase it belongs to. What runs once per connection or
    /// rarely (the handshake, notices, parameter changes) is in functions of its own that are
    /// never inlined: the runtime compiles the hot loop of `handle_input` with its optimizing
    /// tier, whose time and memory grow with the function's size (V8 needed ~100 ms and 12 MB
    /// for it when the handshake was inlined).
    fn dispatch(&mut self, message: Message, now_ms: u64) -> Result<()> {
        match (&self.phase, &message) {
            (Phase::Ready, Message::NoticeResponse(_) | Message::ParameterStatus(_)) => {
                self.dispatch_other(message, now_ms)
            }
            (Phase::Ready, _) => self.dispatch_response(message),
            _ => self.dispatch_other(message, now_ms),
        }
    }

    #[inline(never)]
    fn dispatch_other(&mut self, message: Message, now_ms: u64) -> Result<()> {
        match message {
            Message::NoticeResponse(body) => {
                self.events
                    .push_back(Event::Notice(Box::new(db_error(body.fields())?)));
                return Ok(());
            }
            Message::ParameterStatus(body) if !matches!(self.phase, Phase::Startup(_)) => {
                let name = body.name().map_err(bad_utf8)?.to_string();
                let value = body.value().map_err(bad_utf8)?.to_string();
                match self.parameters.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value,
                    None => self.parameters.push((name, value)),
                }
                return Ok(());
            }
            _ => {}
        }
        match &mut self.phase {
            Phase::Startup(_) | Phase::Authenticated => self.dispatch_startup(message, now_ms),
            Phase::Ready => self.dispatch_response(message),
            Phase::SslRequest | Phase::TlsUpgrade | Phase::Closed => Ok(()),
        }
    }

    /// A message of the handshake (authentication, then the server's parameters and key).
    #[inline(never)]
    fn dispatch_startup(&mut self, message: Message, now_ms: u64) -> Result<()> {
        match &mut self.phase {
            Phase::Startup(handshake) => {
                if let Message::ErrorResponse(body) = message {
                    let db = db_error(body.fields())?;
                    // A protocol violation right after messages sent early on a learned hint
                    // (the server now wants another method): reconnect without hints.
                    self.stale_hint = handshake.used_hint() && db.code == "08P01";
                    return Err(Error::db(db));
                }
                let result = handshake.handle(message, &mut self.output);
                let step = match result {
                    Ok(step) => step,
                    Err(e) => {
                        self.stale_hint = e.kind() == Kind::Protocol && handshake.used_hint();
                        return Err(e);
                    }
                };
                self.startup_step(step, now_ms);
                Ok(())
            }
            Phase::Authenticated => match message {
                Message::BackendKeyData(body) => {
                    self.backend_key = Some((body.process_id(), body.secret_key()));
                    Ok(())
                }
                Message::ReadyForQuery(body) => {
                    self.tx_status = transaction_status(body.status())?;
                    self.phase = Phase::Ready;
                    self.connect_deadline = None;
                    self.events.push_back(Event::Ready);
                    Ok(())
                }
                Message::ErrorResponse(body) => Err(Error::db(db_error(body.fields())?)),
                _ => Err(Error::protocol(
                    "the server sent an unexpected message after authentication",
                )),
            },
            Phase::Ready | Phase::SslRequest | Phase::TlsUpgrade | Phase::Closed => Ok(()),
        }
    }

    /// What the handshake's step means for the connection.
    fn startup_step(&mut self, step: Step, now_ms: u64) {
        match step {
            Step::Continue => {}
            Step::DeriveKey(request) => self.events.push_back(Event::DeriveKey(request)),
            Step::CredentialsSent => {
                self.can_send = true;
                self.write_queued(now_ms);
            }
            Step::Authenticated(learned) => {
                self.learned = learned;
                if self.learned.scram_keys.is_none() {
                    self.learned.scram_keys = self.options.hints.scram_keys.clone();
                }
                self.phase = Phase::Authenticated;
                self.can_send = true;
                self.write_queued(now_ms);
            }
        }
    }

    fn dispatch_response(&mut self, message: Message) -> Result<()> {
        if let Message::NotificationResponse(body) = &message {
            self.events.push_back(Event::Notification {
                process_id: body.process_id(),
                channel: body.channel().map_err(bad_utf8)?.to_string(),
                payload: body.message().map_err(bad_utf8)?.to_string(),
            });
            return Ok(());
        }
        let Some(flight) = self.inflight.front_mut() else {
            if let Message::ErrorResponse(body) = message {
                // An idle connection being shut down (pg_terminate_backend, server restart).
                return Err(Error::db(db_error(body.fields())?));
            }
            return Err(Error::protocol(
                "the server sent a response with no request outstanding",
            ));
        };
        match flight.handle(message, self.options.max_result_bytes, &mut self.statements)? {
            Next::Continue => {}
            Next::RefuseCopyIn => {
                frontend::copy_fail(
                    "COPY FROM STDIN is not supported by edgepg",
                    &mut self.output,
                )
                .map_err(|e| Error::encode(e.to_string()))?;
            }
            Next::Fatal(db) => {
                // The server closes after this: answer the request with the server's words,
                // then the rest with a closed-connection error.
                let id = flight.id;
                self.inflight.pop_front();
                self.events.push_back(Event::Complete {
                    id,
                    result: Err(Error::db((*db).clone())),
                });
                return Err(Error::db(*db));
            }
            Next::Done(status) => {
                self.tx_status = status;
                if let Some(flight) = self.inflight.pop_front() {
                    self.events.push_back(Event::Complete {
                        id: flight.id,
                        result: flight.into_result(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Closes the connection with `error`, completing every pending request.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: Error) {
        if self.closed.is_some() {
            return;
        }
        for flight in self.inflight.drain(..) {
            self.events.push_back(Event::Complete {
                id: flight.id,
                result: Err(error.duplicate()),
            });
        }
        // A request written in the write that failed never reached the server: the driver
        // marks the error NotExecuted in that case (see `Client::run`).
        for (id, _) in self.queued.drain(..) {
            self.events.push_back(Event::Complete {
                id,
                result: Err(error.duplicate().with_outcome(Outcome::NotExecuted)),
            });
        }
        self.phase = Phase::Closed;
        self.can_send = false;
        self.closed = Some(error);
    }
}
