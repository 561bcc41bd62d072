//! Borrowed connections and transactions. Both give the connection back when dropped, on
//! every path: a connection returned broken, or inside a transaction, is closed rather than
//! lent again.

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use crate::driver::{Client, RowSink};
use crate::error::{Error, Kind, Result};
use crate::pool::{Pool, ScopeId};
use crate::proto::{QueryResult, Request, Statement, TransactionStatus};

/// A connection borrowed from a [`Pool`]; derefs to [`Client`].
pub struct Lease {
    pool: Pool,
    client: Option<Client>,
    scope: ScopeId,
    fresh: bool,
    used: bool,
    row_sink: Option<Rc<dyn RowSink>>,
}

/// A transaction on a borrowed connection.
///
/// BEGIN travels in the same write as the first statement, and COMMIT is one more round trip.
/// Dropping a transaction without [`Transaction::commit`] or [`Transaction::rollback`] closes
/// the connection (the server then rolls back), so nothing leaks and no one inherits it.
pub struct Transaction {
    lease: Lease,
    begun: bool,
}

impl Lease {
    pub(crate) fn new(pool: Pool, client: Client, scope: ScopeId, fresh: bool) -> Lease {
        Lease {
            pool,
            client: Some(client),
            scope,
            fresh,
            used: false,
            row_sink: None,
        }
    }

    /// Sets the consumer of large results' rows for this lease's requests (see [`RowSink`]);
    /// the connection forgets it when it goes back to the pool.
    pub fn set_row_sink(&mut self, sink: Option<Rc<dyn RowSink>>) {
        self.row_sink = sink;
    }

    /// Runs one request. On the lease's first request, a connection that fails before the
    /// server could act on it is replaced by a fresh one and the request retried,
    /// transparently: a reused connection found dead or belonging to another request (the
    /// write failed, so the server received nothing that could commit), or a new one whose
    /// handshake, pipelined on what the pool had learned about the server's authentication,
    /// was refused because that changed (the pool then forgets it). Anything that fails after
    /// the server may have acted is returned with `outcome() == Unknown`, never retried.
    pub async fn run(&mut self, request: Request) -> Result<Vec<QueryResult>> {
        crate::driver::only_answer(self.run_pipeline(vec![request]).await)
    }

    /// Runs several requests in one write (see [`Client::run_pipeline`]), with the same
    /// first-request retries as [`Lease::run`].
    pub async fn run_pipeline(&mut self, requests: Vec<Request>) -> Vec<Result<Vec<QueryResult>>> {
        if self.used {
            return self.client_with_sink().run_pipeline(requests).await;
        }
        self.used = true;
        // At most a dead connection and then a stale hint on its replacement.
        for _ in 0..2 {
            let results = self.client_with_sink().run_pipeline(requests.clone()).await;
            // Retried only when nothing came back, so no rows reached the sink.
            let stale_hint = self.client_mut().failed_on_stale_hint();
            let dead = !self.fresh && results.iter().all(|r| r.as_ref().is_err_and(retryable));
            if !(stale_hint || dead) || results.iter().any(|r| r.is_ok()) {
                return results;
            }
            if stale_hint {
                self.pool.forget_hints();
            }
            if let Err(e) = self.replace().await {
                return requests.iter().map(|_| Err(e.duplicate())).collect();
            }
        }
        self.client_with_sink().run_pipeline(requests).await
    }

    /// The client, told about this lease's row sink (a replaced client starts without one).
    fn client_with_sink(&mut self) -> &mut Client {
        let sink = self.row_sink.clone();
        let client = self.client_mut();
        client.set_row_sink(sink);
        client
    }

    fn client_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }

    /// Swaps the dead connection for a fresh one in the same slot. On failure the dead one
    /// stays (every later request on it fails at once, without I/O) and is discarded on drop.
    async fn replace(&mut self) -> Result<()> {
        let pool = self.pool.clone();
        let scope = self.scope;
        pool.replace(self.client_mut(), scope).await?;
        self.fresh = true;
        Ok(())
    }

    /// True when this lease opened a new connection (its handshake rides with the first
    /// request).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The scope the connection belongs to.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }
}

impl Deref for Lease {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

/// A failure on a reused connection before the server could act on the request.
fn retryable(e: &Error) -> bool {
    e.outcome() == crate::error::Outcome::NotExecuted && (e.is_closed() || e.is_fatal())
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mut client) = self.client.take() {
            client.set_row_sink(None);
            self.pool.release(client, self.scope);
        }
    }
}

impl Transaction {
    pub(crate) fn new(lease: Lease) -> Transaction {
        Transaction {
            lease,
            begun: false,
        }
    }

    /// Sets the consumer of large results' rows for the statements that follow.
    pub fn set_row_sink(&mut self, sink: Option<Rc<dyn RowSink>>) {
        self.lease.set_row_sink(sink);
    }

    /// Runs one request inside the transaction.
    pub async fn query(&mut self, request: Request) -> Result<Vec<QueryResult>> {
        if self.begun {
            return self.lease.run(request).await;
        }
        // BEGIN rides with the first statement; a dead reused connection is replaced before
        // anything ran (see `Lease::run_pipeline`).
        self.begun = true;
        let mut answers = self
            .lease
            .run_pipeline(vec![Request::statement(Statement::new("BEGIN")), request])
            .await
            .into_iter();
        let begin = answers
            .next()
            .unwrap_or_else(|| Err(Error::closed("no answer to BEGIN")));
        let result = answers
            .next()
            .unwrap_or_else(|| Err(Error::closed("no answer")));
        begin?;
        result
    }

    /// The connection's transaction status.
    pub fn status(&self) -> TransactionStatus {
        self.lease.transaction_status()
    }

    /// Commits. If a statement had failed, the server rolls back instead and this returns an
    /// error saying so.
    pub async fn commit(mut self) -> Result<()> {
        if !self.begun {
            return Ok(());
        }
        let results = self.lease.run(Request::Simple("COMMIT".into())).await?;
        if results.first().is_some_and(|r| r.command == "ROLLBACK") {
            return Err(Error::new(
                Kind::Aborted,
                "the transaction was rolled back because a statement in it failed",
            ));
        }
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        if !self.begun {
            return Ok(());
        }
        self.lease.run(Request::Simple("ROLLBACK".into())).await?;
        Ok(())
    }
}
