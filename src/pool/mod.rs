//! The isolate-scoped connection cache.
//!
//! Serverless code creates its client at module scope (or, often, inside the handler), many
//! requests hit one isolate at once, and the database has a hard connection limit. A [`Pool`]:
//!
//! - is **one per isolate and config**: [`Pool::shared`] returns the same pool for an equal
//!   connection string and options, so a handler that builds its client per request still
//!   reuses connections. Creating a pool does no I/O; the first query connects.
//! - is **bounded**: at most `max` connections, counted from the moment one starts connecting
//!   until its socket has closed; callers beyond that wait in a FIFO queue for at most
//!   `acquire_timeout`.
//! - **retires** connections idle longer than `idle_timeout` (checked against the wall clock on
//!   every checkout, so an instance that was frozen does not reuse dead sockets) or older than
//!   `max_lifetime`, and **discards** any connection that broke or that comes back inside a
//!   transaction.
//! - keeps **scopes**: a connection opened in one [`ScopeId`] is only lent within it (Workers
//!   forbid using a socket outside the request that opened it), while what is safe to share
//!   isolate-wide — the parsed config, the learned auth method and SCRAM keys — is shared by all.
//!
//! Everything is single-threaded (`Rc`/`RefCell`), as wasm is.

mod lease;
mod registry;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{Either, select};

use crate::driver::{Client, ClientOptions, RowSink};
use crate::error::{Error, Kind, Outcome, Result};
use crate::proto::{AuthHints, Config, QueryResult, Request, TransactionStatus};
use crate::transport::{Connector, Runtime};

pub use lease::{Lease, Transaction};

/// A scope connections are bound to. [`ScopeId::GLOBAL`] is for runtimes where any request may
/// use any socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScopeId(pub u64);

impl ScopeId {
    /// The scope of runtimes without per-request socket ownership.
    pub const GLOBAL: ScopeId = ScopeId(0);
}

/// Pool settings. Defaults suit an edge isolate behind a pooler.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolOptions {
    /// The most connections open at once (default 5).
    pub max: usize,
    /// Close connections idle this long (default 30 s).
    pub idle_timeout: Duration,
    /// How long a caller waits for a connection before `pool_timeout` (default 10 s).
    pub acquire_timeout: Duration,
    /// Retire connections older than this (default 1 hour).
    pub max_lifetime: Option<Duration>,
    /// Requests are isolated (Cloudflare Workers): a socket belongs to the request that opened
    /// it and a request can never be woken by another's I/O, so callers never wait for each
    /// other's connections. `max` then bounds the idle connections kept, not the open ones:
    /// bound the server's side with the pooler (Hyperdrive, PgBouncer). Default false.
    pub isolated_requests: bool,
    /// Per-connection settings.
    pub client: ClientOptions,
}

/// Counters describing a pool; cheap to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections counted against `max` (connecting, busy, idle or closing).
    pub open: usize,
    /// Connections waiting in the cache.
    pub idle: usize,
    /// Connections lent to callers.
    pub busy: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connections opened since the pool was created.
    pub created: u64,
    /// Checkouts served by an existing connection.
    pub reused: u64,
    /// Connections closed because they broke, expired or came back dirty.
    pub discarded: u64,
    /// Acquires that ended in `pool_timeout`.
    pub timeouts: u64,
    /// Network round trips of connections returned to the pool (handshakes included).
    pub round_trips: u64,
}

/// What happened in a pool, for listeners (see [`Pool::add_listener`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolEvent {
    /// A new connection was opened.
    Connect,
    /// A connection was lent to a caller.
    Acquire,
    /// A connection came back to the pool.
    Release,
    /// A connection was closed and removed.
    Remove,
    /// An idle connection turned out to be broken (absorbed, never thrown): the message.
    Error(String),
}

/// A pool event listener.
pub type Listener = Rc<dyn Fn(&PoolEvent)>;

/// Names a listener added with [`Pool::add_listener`], to remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerId(pub u64);

/// The listeners of one pool (several handles may share a pool, each with its own).
#[derive(Default)]
struct Listeners {
    next: u64,
    all: Vec<(ListenerId, Listener)>,
}

/// The connection cache. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Rc<Shared>,
}

struct Shared {
    config: Config,
    options: PoolOptions,
    connector: Rc<dyn Connector>,
    runtime: Rc<dyn Runtime>,
    state: RefCell<State>,
    listeners: RefCell<Listeners>,
}

#[derive(Default)]
struct State {
    idle: Vec<Idle>,
    open: usize,
    busy: usize,
    waiters: VecDeque<Waiter>,
    hints: AuthHints,
    stats: PoolStats,
    closed: bool,
    reaper: bool,
    /// Dropping it wakes the reaper so it can exit (and clear its timer) at `end()`.
    reaper_stop: Option<oneshot::Sender<()>>,
    ended_scopes: Vec<ScopeId>,
}

struct Idle {
    client: Client,
    since_ms: u64,
    scope: ScopeId,
}

struct Waiter {
    scope: ScopeId,
    tx: oneshot::Sender<Grant>,
}

enum Grant {
    /// A ready connection, already counted as busy (boxed: it moves through a channel).
    Conn(Box<Client>),
    /// A free slot, already counted as open and busy: open a new connection.
    Slot,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            max: 5,
            idle_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
            max_lifetime: Some(Duration::from_secs(3600)),
            isolated_requests: false,
            client: ClientOptions::default(),
        }
    }
}

impl PoolOptions {
    /// The defaults, overridden by pool parameters in the connection string
    /// (`pool_max`, `idle_timeout`, `acquire_timeout`, `max_lifetime`, `query_timeout`,
    /// `statement_cache`).
    pub fn from_config(config: &Config) -> PoolOptions {
        let mut o = PoolOptions::default();
        let p = &config.pool;
        if let Some(max) = p.max {
            o.max = max;
        }
        if let Some(t) = p.idle_timeout {
            o.idle_timeout = t;
        }
        if let Some(t) = p.acquire_timeout {
            o.acquire_timeout = t;
        }
        if let Some(t) = p.max_lifetime {
            o.max_lifetime = Some(t);
        }
        if let Some(t) = p.query_timeout {
            o.client.query_timeout = Some(t);
        }
        if let Some(n) = p.statement_cache {
            o.client.statement_cache = Some(n);
        }
        o
    }
}

impl Pool {
    /// The isolate's pool for this config, options and transport (named by `transport_key`):
    /// the same pool for equal inputs, a new one otherwise. No I/O happens until the first
    /// query.
    pub fn shared(
        config: Config,
        options: PoolOptions,
        connector: Rc<dyn Connector>,
        runtime: Rc<dyn Runtime>,
        transport_key: &str,
    ) -> Pool {
        registry::shared(config, options, connector, runtime, transport_key)
    }

    /// A pool of its own, outside the isolate registry.
    pub fn new(
        config: Config,
        options: PoolOptions,
        connector: Rc<dyn Connector>,
        runtime: Rc<dyn Runtime>,
    ) -> Pool {
        let options = PoolOptions {
            max: options.max.max(1),
            ..options
        };
        Pool {
            shared: Rc::new(Shared {
                config,
                options,
                connector,
                runtime,
                state: RefCell::new(State::default()),
                listeners: RefCell::default(),
            }),
        }
    }

    /// The parsed config.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The effective options.
    pub fn options(&self) -> &PoolOptions {
        &self.shared.options
    }

    /// True when both handles are the same pool.
    pub fn same_pool(&self, other: &Pool) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }

    /// Runs one request on a pooled connection (global scope).
    pub async fn query(&self, request: Request) -> Result<Vec<QueryResult>> {
        self.query_in(ScopeId::GLOBAL, request).await
    }

    /// Runs one request on a connection of `scope`.
    pub async fn query_in(&self, scope: ScopeId, request: Request) -> Result<Vec<QueryResult>> {
        self.query_streaming_in(scope, request, None).await
    }

    /// Like [`Pool::query_in`], handing a large result's rows to `sink` while they arrive.
    pub async fn query_streaming_in(
        &self,
        scope: ScopeId,
        request: Request,
        sink: Option<Rc<dyn RowSink>>,
    ) -> Result<Vec<QueryResult>> {
        let mut lease = self.acquire_in(scope).await?;
        lease.set_row_sink(sink);
        lease.run(request).await
    }

    /// Forgets what was learned about the server's authentication (it changed).
    pub(crate) fn forget_hints(&self) {
        self.shared.state.borrow_mut().hints = AuthHints::default();
    }

    /// Starts a transaction on a connection of the global scope. BEGIN is sent with the first
    /// statement; see [`Transaction`].
    pub async fn begin(&self) -> Result<Transaction> {
        self.begin_in(ScopeId::GLOBAL).await
    }

    /// Starts a transaction on a connection of `scope`.
    pub async fn begin_in(&self, scope: ScopeId) -> Result<Transaction> {
        Ok(Transaction::new(self.acquire_in(scope).await?))
    }

    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when it returns
    /// `Err` (or a statement failed), and always gives the connection back clean.
    pub async fn transaction<T>(
        &self,
        f: impl for<'a> FnOnce(
            &'a mut Transaction,
        ) -> futures_util::future::LocalBoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let mut tx = self.begin().await?;
        match f(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Borrows a connection of the global scope until the [`Lease`] drops.
    pub async fn acquire(&self) -> Result<Lease> {
        self.acquire_in(ScopeId::GLOBAL).await
    }

    /// Borrows a connection of `scope`, opening one if none is idle and fewer than `max` are
    /// open, else waiting in line for at most `acquire_timeout`.
    pub async fn acquire_in(&self, scope: ScopeId) -> Result<Lease> {
        let runtime = self.shared.runtime.clone();
        let deadline = runtime.now_ms() + self.shared.options.acquire_timeout.as_millis() as u64;
        loop {
            let rx = {
                let now = runtime.now_ms();
                let mut st = self.shared.state.borrow_mut();
                if st.closed {
                    return Err(pool_closed());
                }
                if st.ended_scopes.contains(&scope) {
                    return Err(Error::new(
                        Kind::PoolClosed,
                        "this request scope has ended: its connections are closed",
                    ));
                }
                while let Some(at) = st.idle.iter().rposition(|i| i.scope == scope) {
                    let idle = st.idle.swap_remove(at);
                    if self.is_reusable(&idle.client, Some(idle.since_ms), now) {
                        st.busy += 1;
                        st.stats.reused += 1;
                        drop(st);
                        self.emit(PoolEvent::Acquire);
                        return Ok(Lease::new(self.clone(), idle.client, scope, false));
                    }
                    self.discard(&mut st, idle.client);
                }
                if st.open < self.shared.options.max || self.shared.options.isolated_requests {
                    st.open += 1;
                    st.busy += 1;
                    None
                } else if let Some(at) = st.idle.iter().position(|i| i.scope != scope) {
                    // At the limit with idle connections of other scopes: retire one so this
                    // scope gets its slot (granted when its socket has closed).
                    let idle = st.idle.swap_remove(at);
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_front(Waiter { scope, tx });
                    self.discard(&mut st, idle.client);
                    Some(rx)
                } else {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_back(Waiter { scope, tx });
                    Some(rx)
                }
            };
            let Some(rx) = rx else {
                return self.open_new(scope).await;
            };
            let wait = deadline.saturating_sub(runtime.now_ms());
            match select(rx, runtime.sleep(wait)).await {
                Either::Left((Ok(Grant::Conn(client)), _)) => {
                    self.emit(PoolEvent::Acquire);
                    return Ok(Lease::new(self.clone(), *client, scope, false));
                }
                Either::Left((Ok(Grant::Slot), _)) => return self.open_new(scope).await,
                Either::Left((Err(_), _)) => continue,
                Either::Right(_) => {
                    let mut st = self.shared.state.borrow_mut();
                    st.waiters.retain(|w| !w.tx.is_canceled());
                    st.stats.timeouts += 1;
                    let max = self.shared.options.max;
                    return Err(Error::new(
                        Kind::PoolTimeout,
                        format!(
                            "no connection became free within acquire_timeout ({:?}; max {max} \
                             busy): raise max or acquire_timeout, or make transactions shorter",
                            self.shared.options.acquire_timeout
                        ),
                    )
                    .with_outcome(Outcome::NotExecuted));
                }
            }
        }
    }

    /// Closes the idle connections of `scope` and stops lending in it; busy ones close when
    /// they come back. Resolves once the idle sockets have closed.
    pub async fn end_scope(&self, scope: ScopeId) {
        let closing: Vec<Client> = {
            let mut st = self.shared.state.borrow_mut();
            if scope != ScopeId::GLOBAL && !st.ended_scopes.contains(&scope) {
                st.ended_scopes.push(scope);
                // Keep the list short: scopes are request ids, never reused.
                if st.ended_scopes.len() > 1024 {
                    st.ended_scopes.remove(0);
                }
            }
            take_idle(&mut st, |i| i.scope == scope)
        };
        self.close_taken(closing).await;
    }

    /// Closes the pool: no new checkouts; idle connections close now, busy ones when they
    /// come back. Resolves once the idle sockets have closed.
    pub async fn end(&self) {
        let closing: Vec<Client> = {
            let mut st = self.shared.state.borrow_mut();
            st.closed = true;
            st.waiters.clear();
            st.reaper_stop = None;
            take_idle(&mut st, |_| true)
        };
        registry::forget(self);
        self.close_taken(closing).await;
    }

    /// Closes connections taken out of the cache one by one, freeing each slot once closed.
    async fn close_taken(&self, clients: Vec<Client>) {
        self.shared.state.borrow_mut().stats.discarded += clients.len() as u64;
        for client in clients {
            client.close().await;
            self.slot_freed();
        }
    }

    /// Closes idle connections past `idle_timeout` or `max_lifetime` now.
    pub fn prune(&self) {
        let now = self.shared.runtime.now_ms();
        let mut st = self.shared.state.borrow_mut();
        let idle = std::mem::take(&mut st.idle);
        for i in idle {
            if self.is_reusable(&i.client, Some(i.since_ms), now) {
                st.idle.push(i);
            } else {
                self.discard(&mut st, i.client);
            }
        }
    }

    /// Adds a listener called (asynchronously, in order) for every [`PoolEvent`]; other
    /// handles of the same pool keep theirs.
    pub fn add_listener(&self, listener: Listener) -> ListenerId {
        let mut listeners = self.shared.listeners.borrow_mut();
        listeners.next += 1;
        let id = ListenerId(listeners.next);
        listeners.all.push((id, listener));
        id
    }

    /// Removes a listener added with [`Pool::add_listener`] (nothing if it is gone already).
    pub fn remove_listener(&self, id: ListenerId) {
        self.shared
            .listeners
            .borrow_mut()
            .all
            .retain(|(i, _)| *i != id);
    }

    /// Resolves once the pool holds no connection at all: idle ones are closed when their
    /// `idle_timeout` passes, busy ones once they come back. For `waitUntil` on platforms that
    /// freeze instances between requests.
    pub async fn idle(&self) {
        loop {
            self.prune();
            let wait = {
                let st = self.shared.state.borrow();
                if st.open == 0 {
                    return;
                }
                let now = self.shared.runtime.now_ms();
                let idle_ms = self.shared.options.idle_timeout.as_millis() as u64;
                st.idle
                    .iter()
                    .map(|i| (i.since_ms + idle_ms).saturating_sub(now))
                    .min()
                    .unwrap_or(25)
                    .clamp(1, 250)
            };
            self.shared.runtime.sleep(wait).await;
        }
    }

    /// The pool's counters.
    pub fn stats(&self) -> PoolStats {
        let st = self.shared.state.borrow();
        PoolStats {
            open: st.open,
            idle: st.idle.len(),
            busy: st.busy,
            waiting: st.waiters.iter().filter(|w| !w.tx.is_canceled()).count(),
            ..st.stats
        }
    }

    /// Opens a connection with what the pool has learned about the server.
    async fn open_client(&self) -> Result<Client> {
        let mut options = self.shared.options.client.clone();
        options.hints = self.shared.state.borrow().hints.clone();
        Client::open(
            &self.shared.config,
            options,
            &*self.shared.connector,
            self.shared.runtime.clone(),
        )
        .await
    }

    async fn open_new(&self, scope: ScopeId) -> Result<Lease> {
        match self.open_client().await {
            Ok(client) => {
                self.shared.state.borrow_mut().stats.created += 1;
                self.emit(PoolEvent::Connect);
                self.emit(PoolEvent::Acquire);
                Ok(Lease::new(self.clone(), client, scope, true))
            }
            Err(e) => {
                {
                    let mut st = self.shared.state.borrow_mut();
                    st.busy -= 1;
                }
                self.slot_freed();
                Err(e.with_outcome(Outcome::NotExecuted))
            }
        }
    }

    /// Replaces a leased connection found dead (or foreign) on its first use by a fresh one,
    /// keeping its slot; idle siblings of the same scope are likely dead too and are retired.
    /// When no fresh connection can be opened, the dead one stays in the lease, with its slot,
    /// until the lease is dropped (a lease always holds a client).
    async fn replace(&self, client: &mut Client, scope: ScopeId) -> Result<()> {
        {
            let mut st = self.shared.state.borrow_mut();
            let isolated = self.shared.options.isolated_requests;
            for client in take_idle(&mut st, |i| i.scope == scope) {
                // With isolated requests these are sockets of earlier requests: no I/O on them.
                let polite = !isolated && !client.is_foreign();
                self.retire(&mut st, client, polite);
            }
        }
        let fresh = self
            .open_client()
            .await
            .map_err(|e| e.with_outcome(Outcome::NotExecuted))?;
        let old = std::mem::replace(client, fresh);
        self.shared.state.borrow_mut().stats.discarded += 1;
        if !old.is_foreign() {
            if let Some(reason) = old.close_reason() {
                self.emit(PoolEvent::Error(reason.message().to_string()));
            }
            self.shared.runtime.spawn(Box::pin(old.close()));
        }
        self.emit(PoolEvent::Remove);
        self.shared.state.borrow_mut().stats.created += 1;
        self.emit(PoolEvent::Connect);
        Ok(())
    }

    /// Takes a connection back from a lease.
    fn release(&self, mut client: Client, scope: ScopeId) {
        let now = self.shared.runtime.now_ms();
        self.emit(PoolEvent::Release);
        let mut st = self.shared.state.borrow_mut();
        st.busy -= 1;
        st.stats.round_trips += client.take_round_trips();
        if client.learned_hints().method.is_some() {
            st.hints = client.learned_hints().clone();
        }
        let clean = client.transaction_status() == TransactionStatus::Idle;
        if !clean
            || st.closed
            || st.ended_scopes.contains(&scope)
            || !self.is_reusable(&client, None, now)
        {
            self.discard(&mut st, client);
            return;
        }
        let mut client = Box::new(client);
        while let Some(at) = st
            .waiters
            .iter()
            .position(|w| w.scope == scope && !w.tx.is_canceled())
        {
            let Some(waiter) = st.waiters.remove(at) else {
                break;
            };
            match waiter.tx.send(Grant::Conn(client)) {
                Ok(()) => {
                    st.busy += 1;
                    st.stats.reused += 1;
                    return;
                }
                Err(Grant::Conn(back)) => client = back,
                Err(Grant::Slot) => return,
            }
        }
        if st.waiters.iter().any(|w| !w.tx.is_canceled())
            || (self.shared.options.isolated_requests && st.idle.len() >= self.shared.options.max)
        {
            // Someone of another scope waits: this connection cannot serve them, its slot can.
            // (Isolated requests: keep at most `max` idle.)
            self.discard(&mut st, *client);
            return;
        }
        st.idle.push(Idle {
            client: *client,
            since_ms: now,
            scope,
        });
        self.ensure_reaper(&mut st);
    }

    fn is_reusable(&self, client: &Client, idle_since: Option<u64>, now: u64) -> bool {
        let o = &self.shared.options;
        client.is_usable()
            && client.transaction_status() == TransactionStatus::Idle
            && idle_since.is_none_or(|s| now.saturating_sub(s) < o.idle_timeout.as_millis() as u64)
            && o.max_lifetime
                .is_none_or(|l| now.saturating_sub(client.created_ms()) < l.as_millis() as u64)
    }

    /// Tells the listeners, outside any borrow of the pool's state.
    fn emit(&self, event: PoolEvent) {
        let listeners: Vec<Listener> = {
            let listeners = self.shared.listeners.borrow();
            if listeners.all.is_empty() {
                return;
            }
            listeners.all.iter().map(|(_, l)| l.clone()).collect()
        };
        self.shared.runtime.spawn(Box::pin(async move {
            for listener in &listeners {
                listener(&event);
            }
        }));
    }

    /// Takes a connection out of the pool for good (see [`Pool::retire`]); a socket of
    /// another request (Workers) is dropped without I/O.
    fn discard(&self, st: &mut State, client: Client) {
        let polite = !client.is_foreign();
        self.retire(st, client, polite);
    }

    /// Takes a connection out of the pool for good: closed politely (Terminate) in the
    /// background, or, not `polite`, dropped without I/O (its runtime closes the socket). Its
    /// slot frees once that is done; with isolated requests at once, the close being best
    /// effort: the request owning the socket may end first, and then the close never completes
    /// here (`max` bounds idle connections there, not open ones).
    fn retire(&self, st: &mut State, client: Client, polite: bool) {
        st.stats.discarded += 1;
        self.emit(PoolEvent::Remove);
        if self.shared.options.isolated_requests {
            st.open = st.open.saturating_sub(1);
            if polite {
                self.shared.runtime.spawn(Box::pin(client.close()));
            }
            return;
        }
        let pool = self.clone();
        self.shared.runtime.spawn(Box::pin(async move {
            if polite {
                client.close().await;
            }
            pool.slot_freed();
        }));
    }

    /// A connection's slot is free: give it to the first live waiter, else uncount it.
    fn slot_freed(&self) {
        let mut st = self.shared.state.borrow_mut();
        while let Some(waiter) = st.waiters.pop_front() {
            if waiter.tx.is_canceled() || st.closed {
                continue;
            }
            st.busy += 1;
            if waiter.tx.send(Grant::Slot).is_ok() {
                return;
            }
            st.busy -= 1;
        }
        st.open = st.open.saturating_sub(1);
    }

    fn ensure_reaper(&self, st: &mut State) {
        if st.reaper {
            return;
        }
        st.reaper = true;
        let (stop_tx, mut stop) = oneshot::channel::<()>();
        st.reaper_stop = Some(stop_tx);
        let pool = Rc::downgrade(&self.shared);
        let runtime = self.shared.runtime.clone();
        let idle_ms = self.shared.options.idle_timeout.as_millis() as u64;
        self.shared.runtime.spawn(Box::pin(async move {
            loop {
                let wait = {
                    let Some(shared) = pool.upgrade() else { return };
                    let st = shared.state.borrow();
                    if st.closed {
                        return;
                    }
                    let now = runtime.now_ms();
                    match st.idle.iter().map(|i| i.since_ms).min() {
                        Some(oldest) => (oldest + idle_ms).saturating_sub(now).max(1),
                        None => {
                            drop(st);
                            shared.state.borrow_mut().reaper = false;
                            return;
                        }
                    }
                };
                if let Either::Right(_) = select(runtime.sleep_background(wait), &mut stop).await {
                    return;
                }
                let Some(shared) = pool.upgrade() else { return };
                Pool { shared }.prune();
            }
        }));
    }
}

/// Takes the idle connections `pick` selects out of the cache.
fn take_idle(st: &mut State, pick: impl Fn(&Idle) -> bool) -> Vec<Client> {
    let (taken, kept): (Vec<Idle>, Vec<Idle>) =
        std::mem::take(&mut st.idle).into_iter().partition(pick);
    st.idle = kept;
    taken.into_iter().map(|i| i.client).collect()
}

fn pool_closed() -> Error {
    Error::new(
        Kind::PoolClosed,
        "the pool was closed with end(): create a new one",
    )
    .with_outcome(Outcome::NotExecuted)
}
