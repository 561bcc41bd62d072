//! The driver: the only code that awaits. It pumps the sans-IO [`Connection`] against a
//! [`Transport`], racing reads against the core's next deadline.
//!
//! A [`Client`] is one connection. It is used by one caller at a time (the pool lends it
//! out); pipelining happens inside a call: [`Client::run_pipeline`] writes every request in
//! one write and reads the answers in order.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::{Either, select};

use crate::error::{Error, Kind, Outcome, Result};
use crate::proto::message::DEFAULT_MAX_MESSAGE_SIZE;
use crate::proto::{
    AuthHints, Column, Config, ConnectOptions, Connection, Event, QueryResult, Request, RequestId,
    Row, TransactionStatus,
};
use crate::transport::{Connector, Runtime, Transport};

/// Settings of a connection beyond the connection string.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// The largest backend message accepted (default 64 MiB).
    pub max_message_size: usize,
    /// The most row bytes one request may return (default: unlimited).
    pub max_result_bytes: usize,
    /// Deadline for each request's answer (default: none, or `query_timeout` from the URL).
    pub query_timeout: Option<Duration>,
    /// Named prepared statements kept per connection (default: `statement_cache` from the
    /// URL, else 0: every statement unnamed, as transaction-mode poolers need). Direct
    /// connections only.
    pub statement_cache: Option<usize>,
    /// What earlier connections learned about the server.
    pub hints: AuthHints,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_result_bytes: usize::MAX,
            query_timeout: None,
            statement_cache: None,
            hints: AuthHints::default(),
        }
    }
}

/// Consumes a large result while it arrives: given a [`Client`] (or a pool lease), it receives
/// the rows of a running statement in runs of about [`RowSink::part_bytes`], in order, and the
/// final [`QueryResult`] holds only the rows after the last run. The rows of a request that
/// then fails are not to be used.
pub trait RowSink {
    /// Row bytes to gather before a run is handed out.
    fn part_bytes(&self) -> usize;
    /// A run of rows of statement `statement` (its position in its request) of the request at
    /// position `request` in the pipeline.
    fn rows(&self, request: usize, statement: usize, columns: &[Column], rows: Vec<Row>);
}

/// What it takes to cancel a running statement from another connection (Postgres'
/// CancelRequest): the server's address and the backend's key. Holds no credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelToken {
    host: String,
    port: u16,
    process_id: i32,
    secret_key: i32,
}

impl CancelToken {
    /// Asks the server to cancel whatever the backend is running, over a new transport from
    /// `connector`. Cancellation is best effort: the statement may finish first.
    ///
    /// Like libpq, it waits (up to 5 s) for the server to close the cancel connection rather
    /// than hanging up first: PgBouncer 1.18 aborts when a cancel's client leaves early.
    pub async fn cancel(&self, connector: &dyn Connector, runtime: &dyn Runtime) -> Result<()> {
        let mut transport = connector.connect(&self.host, self.port).await?;
        let mut buf = BytesMut::new();
        postgres_protocol::message::frontend::cancel_request(
            self.process_id,
            self.secret_key,
            &mut buf,
        );
        let written = transport.write(&buf).await;
        if written.is_ok() {
            let mut sink = Vec::new();
            loop {
                sink.clear();
                match select(transport.read(&mut sink), runtime.sleep(5_000)).await {
                    Either::Left((Ok(n), _)) if n > 0 => continue,
                    _ => break,
                }
            }
        }
        transport.close().await;
        written
    }
}

/// One connection to Postgres.
pub struct Client {
    conn: Connection,
    transport: Box<dyn Transport>,
    runtime: Rc<dyn Runtime>,
    out: BytesMut,
    input: Vec<u8>,
    completed: Vec<(RequestId, Result<Vec<QueryResult>>)>,
    transport_closed: bool,
    created_ms: u64,
    writes: u64,
    host: String,
    port: u16,
    last_io_ms: u64,
    row_sink: Option<Rc<dyn RowSink>>,
    /// The requests of the running pipeline, in order (to tell a sink which one rows are of).
    running: Vec<RequestId>,
}

/// A connection idle at least this long first lets pending host events arrive, so a close that
/// happened meanwhile is seen before anything is written.
const SETTLE_AFTER_IDLE_MS: u64 = 20;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("ready", &self.conn.is_ready())
            .field("closed", &self.conn.is_closed())
            .field("transaction_status", &self.conn.transaction_status())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens the transport and starts the handshake without waiting for it: a request run
    /// next is sent at the earliest point the server accepts it.
    pub async fn open(
        config: &Config,
        options: ClientOptions,
        connector: &dyn Connector,
        runtime: Rc<dyn Runtime>,
    ) -> Result<Client> {
        let start = runtime.now_ms();
        let connect = connector.connect(&config.host, config.port);
        let transport = match config.connect_timeout {
            None => connect.await?,
            Some(timeout) => {
                match select(connect, runtime.sleep(timeout.as_millis() as u64)).await {
                    Either::Left((result, _)) => result?,
                    Either::Right(_) => {
                        return Err(Error::new(
                            Kind::Timeout,
                            format!(
                                "connecting to {} did not complete within connect_timeout \
                                 ({:?}): check that the host is reachable",
                                config.display_target(),
                                timeout
                            ),
                        )
                        .with_outcome(Outcome::NotExecuted));
                    }
                }
            }
        };
        let mut nonce = [0u8; 18];
        runtime.fill_random(&mut nonce)?;
        let connect_options = ConnectOptions {
            nonce: crate::proto::base64::encode(nonce),
            hints: options.hints,
            transport: transport.security(),
            max_message_size: options.max_message_size,
            max_result_bytes: options.max_result_bytes,
            query_timeout_ms: options
                .query_timeout
                .or(config.pool.query_timeout)
                .map(|d| d.as_millis() as u64),
            statement_cache: options
                .statement_cache
                .or(config.pool.statement_cache)
                .unwrap_or(0),
        };
        let now = runtime.now_ms();
        Ok(Client {
            conn: Connection::new(config, connect_options, now),
            transport,
            runtime,
            out: BytesMut::with_capacity(1024),
            input: Vec::with_capacity(64 * 1024),
            completed: Vec::new(),
            transport_closed: false,
            created_ms: start,
            writes: 0,
            host: config.host.clone(),
            port: config.port,
            last_io_ms: start,
            row_sink: None,
            running: Vec::new(),
        })
    }

    /// Waits for the handshake to finish.
    pub async fn ready(&mut self) -> Result<()> {
        self.pump(|c| c.conn.is_ready()).await;
        match self.conn.close_reason() {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    /// Sets (or with `None` removes) the consumer of large results' rows for later requests.
    pub fn set_row_sink(&mut self, sink: Option<Rc<dyn RowSink>>) {
        self.row_sink = sink;
    }

    /// Runs one request and returns one result per statement.
    pub async fn run(&mut self, request: Request) -> Result<Vec<QueryResult>> {
        only_answer(self.run_pipeline(vec![request]).await)
    }

    /// True when the connection failed because its socket belongs to another request.
    pub fn is_foreign(&self) -> bool {
        self.conn
            .close_reason()
            .is_some_and(|e| e.kind() == crate::error::Kind::Foreign)
    }

    /// Runs several requests in one write; each answer is independent (an error in one does
    /// not abort the others, unlike statements inside one request).
    pub async fn run_pipeline(&mut self, requests: Vec<Request>) -> Vec<Result<Vec<QueryResult>>> {
        let ready = self.conn.is_ready();
        if ready {
            self.check_idle_input().await;
        }
        let now = self.runtime.now_ms();
        let inert: Vec<bool> = requests.iter().map(opens_transaction_only).collect();
        let ids: Vec<RequestId> = requests
            .into_iter()
            .map(|r| self.conn.submit(r, now))
            .collect();
        if ready && !self.flush().await {
            // The last request's Sync was in the failed write: it cannot have committed. One
            // before it may have reached the server whole and committed before the write
            // broke part-way, so its outcome stays unknown (and it is never retried), unless
            // it commits nothing by itself (a transaction's BEGIN) or nothing was sent at all
            // (the socket belongs to another request).
            let nothing_sent = self.is_foreign();
            let last = ids.len().saturating_sub(1);
            return ids
                .into_iter()
                .enumerate()
                .map(|(i, id)| {
                    let result = self.take(id);
                    if i == last || inert[i] || nothing_sent {
                        result.map_err(|e| e.with_outcome(crate::error::Outcome::NotExecuted))
                    } else {
                        result
                    }
                })
                .collect();
        }
        self.running.clone_from(&ids);
        self.pump(|c| {
            ids.iter()
                .all(|id| c.completed.iter().any(|(i, _)| i == id))
        })
        .await;
        self.running.clear();
        ids.into_iter().map(|id| self.take(id)).collect()
    }

    /// Closes politely (Terminate, then the transport).
    pub async fn close(mut self) {
        if !self.is_foreign() {
            self.conn.close();
            self.flush().await;
            self.close_transport().await;
        }
    }

    /// True when the connection can take another request: open, ready and with nothing
    /// pending.
    pub fn is_usable(&self) -> bool {
        self.conn.is_ready() && self.conn.is_idle()
    }

    /// Why the connection closed, if it did.
    pub fn close_reason(&self) -> Option<&Error> {
        self.conn.close_reason()
    }

    /// True once the connection is broken or closed.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// The transaction status of the last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.conn.transaction_status()
    }

    /// What the handshake learned, for the next connection's hints.
    pub fn learned_hints(&self) -> &AuthHints {
        self.conn.learned_hints()
    }

    /// True when the handshake failed because a learned hint no longer holds.
    pub fn failed_on_stale_hint(&self) -> bool {
        self.conn.failed_on_stale_hint()
    }

    /// A server parameter (`server_version`, …).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.conn.parameter(name)
    }

    /// The backend process id and secret key.
    pub fn backend_key(&self) -> Option<(i32, i32)> {
        self.conn.backend_key()
    }

    /// A token to cancel this connection's running statement from elsewhere (once the
    /// handshake has finished; through a pooler, the pooler routes it).
    pub fn cancel_token(&self) -> Option<CancelToken> {
        let (process_id, secret_key) = self.conn.backend_key()?;
        Some(CancelToken {
            host: self.host.clone(),
            port: self.port,
            process_id,
            secret_key,
        })
    }

    /// Writes since the last call: each write waits for the server's answer, so this counts
    /// network round trips (the handshake's included).
    pub fn take_round_trips(&mut self) -> u64 {
        std::mem::take(&mut self.writes)
    }

    /// When the connection was opened, on the runtime's clock (ms).
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Feeds what arrived while the connection sat idle (a FATAL from a terminated backend, the
    /// peer's close), so a dead connection is noticed before anything is written to it.
    async fn check_idle_input(&mut self) {
        if self.runtime.now_ms().saturating_sub(self.last_io_ms) >= SETTLE_AFTER_IDLE_MS {
            self.transport.settle().await;
        }
        self.input.clear();
        let now = self.runtime.now_ms();
        match self.transport.try_read(&mut self.input) {
            None => {}
            Some(Ok(0)) => self.conn.handle_eof(),
            Some(Ok(_)) => self.conn.handle_input(&self.input, now),
            Some(Err(e)) => self.conn.handle_transport_error(e),
        }
    }

    fn take(&mut self, id: RequestId) -> Result<Vec<QueryResult>> {
        match self.completed.iter().position(|(i, _)| *i == id) {
            Some(at) => self.completed.swap_remove(at).1,
            None => Err(self
                .conn
                .close_reason()
                .map(Error::duplicate)
                .unwrap_or_else(|| Error::closed("the request was lost"))),
        }
    }

    /// Pumps bytes and events until `done` holds or the connection closes.
    async fn pump(&mut self, done: impl Fn(&Client) -> bool) {
        loop {
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Complete { id, result } => self.completed.push((id, result)),
                    Event::StartTls => {
                        let _ = self.flush().await;
                        match self.transport.start_tls().await {
                            Ok(()) => {
                                let now = self.runtime.now_ms();
                                self.conn.handle_tls_established(now);
                            }
                            Err(e) => self.conn.handle_transport_error(e),
                        }
                    }
                    Event::DeriveKey(request) => {
                        let salted = self.runtime.pbkdf2(request).await;
                        let now = self.runtime.now_ms();
                        self.conn.handle_salted_password(salted, now);
                    }
                    Event::Ready | Event::Notice(_) | Event::Notification { .. } => {}
                }
            }
            let _ = self.flush().await;
            if self.conn.is_closed() {
                // Deliver what the failure completed, then release the socket.
                while let Some(event) = self.conn.poll_event() {
                    if let Event::Complete { id, result } = event {
                        self.completed.push((id, result));
                    }
                }
                if !self.is_foreign() {
                    self.close_transport().await;
                }
                return;
            }
            if done(self) {
                return;
            }
            self.input.clear();
            let deadline = self.conn.poll_timeout();
            let read = self.transport.read(&mut self.input);
            let outcome = match deadline {
                None => Some(read.await),
                Some(at) => {
                    let wait = at.saturating_sub(self.runtime.now_ms());
                    match select(read, self.runtime.sleep(wait)).await {
                        Either::Left((r, _)) => Some(r),
                        Either::Right(_) => None,
                    }
                }
            };
            let now = self.runtime.now_ms();
            self.last_io_ms = now;
            match outcome {
                Some(Ok(0)) => self.conn.handle_eof(),
                Some(Ok(_)) => {
                    self.conn.handle_input(&self.input, now);
                    self.hand_out_rows();
                }
                Some(Err(e)) => self.conn.handle_transport_error(e),
                None => self.conn.handle_timeout(now),
            }
        }
    }

    /// Gives the row sink what the running statement gathered, in runs of its part size.
    fn hand_out_rows(&mut self) {
        let Some(sink) = &self.row_sink else {
            return;
        };
        // Only inside run_pipeline, whose requests are the only ones in flight.
        if self.running.is_empty() {
            return;
        }
        while let Some(taken) = self.conn.take_rows(sink.part_bytes()) {
            let request = self
                .running
                .iter()
                .position(|id| *id == taken.id)
                .unwrap_or(self.running.len());
            sink.rows(request, taken.statement, taken.columns, taken.rows);
        }
    }

    /// Writes what the core has to send; false when the write failed.
    async fn flush(&mut self) -> bool {
        self.conn.poll_transmit(&mut self.out);
        if self.out.is_empty() || self.transport_closed {
            self.out.clear();
            return true;
        }
        let result = self.transport.write(&self.out).await;
        self.out.clear();
        match result {
            Ok(()) => {
                self.writes += 1;
                self.last_io_ms = self.runtime.now_ms();
                true
            }
            Err(e) => {
                self.conn.handle_transport_error(e);
                false
            }
        }
    }

    async fn close_transport(&mut self) {
        if !self.transport_closed {
            self.transport_closed = true;
            self.transport.close().await;
        }
    }
}

/// True for a request that only opens a transaction block: alone, it leaves nothing behind
/// once its connection is gone.
fn opens_transaction_only(request: &Request) -> bool {
    let begin = |sql: &str| {
        let sql = sql.trim().trim_end_matches(';').trim_end();
        sql.eq_ignore_ascii_case("BEGIN") || sql.eq_ignore_ascii_case("START TRANSACTION")
    };
    match request {
        Request::Extended(statements) => statements
            .iter()
            .all(|s| s.params.is_empty() && begin(&s.sql)),
        Request::Simple(sql) => begin(sql),
    }
}

/// The answer of a one-request pipeline.
pub(crate) fn only_answer(answers: Vec<Result<Vec<QueryResult>>>) -> Result<Vec<QueryResult>> {
    answers
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(Error::closed("the request got no answer")))
}
