//! The write ledger of the fault tests: writers insert unique ids into a table without a
//! unique constraint and record what each call was told; afterwards the table must agree with
//! the ledger:
//!
//! - acknowledged → present exactly once (twice for a two-row transaction);
//! - `Outcome::NotExecuted` → absent;
//! - `Outcome::Unknown` → absent or present once (a transaction: all rows or none);
//! - never an id twice, never an id nobody wrote.
//!
//! Also the tables' creation and row counts. Included with
//! `#[path = "common/ledger.rs"] mod ledger;` by a test crate that declares `mod common;`.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use edgepg::proto::types::Value;
use edgepg::proto::{Request, Statement};
use edgepg::{Outcome, Pool};
use futures_util::future::join_all;

use crate::common::{bounded, psql_at};

#[derive(Debug)]
struct Attempt {
    id: i64,
    /// A two-row transaction (rows 'a' and 'b') rather than one INSERT.
    tx: bool,
    result: Result<(), Failure>,
    at: Instant,
}

#[derive(Debug)]
struct Failure {
    outcome: Outcome,
    code: String,
    message: String,
    closed_or_fatal: bool,
}

#[derive(Default)]
pub struct Ledger {
    attempts: RefCell<Vec<Attempt>>,
    next_id: Cell<i64>,
    stop: Cell<bool>,
}

impl Ledger {
    pub fn new(first_id: i64) -> Rc<Ledger> {
        let l = Ledger::default();
        l.next_id.set(first_id);
        Rc::new(l)
    }

    pub fn failures_since(&self, t: Instant) -> usize {
        self.attempts
            .borrow()
            .iter()
            .filter(|a| a.at >= t && a.result.is_err())
            .count()
    }

    pub fn successes_since(&self, t: Instant) -> usize {
        self.attempts
            .borrow()
            .iter()
            .filter(|a| a.at >= t && a.result.is_ok())
            .count()
    }

    pub fn summary(&self) -> String {
        let a = self.attempts.borrow();
        let ok = a.iter().filter(|a| a.result.is_ok()).count();
        let mut codes: HashMap<String, usize> = HashMap::new();
        for f in a.iter().filter_map(|a| a.result.as_ref().err()) {
            *codes
                .entry(format!("{}/{:?}", f.code, f.outcome))
                .or_default() += 1;
        }
        let mut codes: Vec<_> = codes.into_iter().collect();
        codes.sort();
        format!(
            "{} attempts, {ok} acknowledged, failures {codes:?}",
            a.len()
        )
    }
}

pub fn insert(table: &str, id: i64, part: &str) -> Request {
    Request::statement(
        Statement::new(format!("INSERT INTO {table} (id, part) VALUES ($1, $2)"))
            .bind(&Value::Int8(id))
            .unwrap()
            .bind_text(Some(part)),
    )
}

/// Writes until the ledger says stop: every third id is a two-row transaction.
async fn writer(pool: Pool, table: String, ledger: Rc<Ledger>, pace: Duration) {
    while !ledger.stop.get() {
        let id = ledger.next_id.get();
        ledger.next_id.set(id + 1);
        let tx = id % 3 == 0;
        let at = Instant::now();
        let result = if tx {
            let table = table.clone();
            pool.transaction(|t| {
                Box::pin(async move {
                    t.query(insert(&table, id, "a")).await?;
                    t.query(insert(&table, id, "b")).await?;
                    Ok(())
                })
            })
            .await
        } else {
            pool.query(insert(&table, id, "s")).await.map(|_| ())
        };
        let result = result.map_err(|e| Failure {
            outcome: e.outcome(),
            code: e.code().to_string(),
            message: e.message().to_string(),
            closed_or_fatal: e.is_closed() || e.is_fatal() || e.is_timeout(),
        });
        ledger
            .attempts
            .borrow_mut()
            .push(Attempt { id, tx, result, at });
        tokio::time::sleep(pace).await;
    }
}

/// `writers` concurrent writers on `pool`; returns their handles.
pub fn start_writers(
    pool: &Pool,
    table: &str,
    ledger: &Rc<Ledger>,
    writers: usize,
    pace: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|_| {
            tokio::task::spawn_local(writer(
                pool.clone(),
                table.to_string(),
                ledger.clone(),
                pace,
            ))
        })
        .collect()
}

pub async fn stop_writers(ledger: &Ledger, handles: Vec<tokio::task::JoinHandle<()>>) {
    ledger.stop.set(true);
    bounded("writers stopping", 60, join_all(handles)).await;
}

/// Checks the table against the ledger (see the module docs); `rows` maps id → row count.
pub fn verify(what: &str, ledger: &Ledger, rows: &HashMap<i64, usize>) {
    let attempts = ledger.attempts.borrow();
    let mut seen = std::collections::HashSet::new();
    for a in attempts.iter() {
        assert!(seen.insert(a.id), "{what}: id {} attempted twice", a.id);
        let full = if a.tx { 2 } else { 1 };
        let n = rows.get(&a.id).copied().unwrap_or(0);
        assert!(
            n <= full,
            "{what}: id {} is in the table {n} times: duplicated",
            a.id
        );
        match &a.result {
            Ok(()) => assert_eq!(
                n, full,
                "{what}: id {} was acknowledged but {n} of {full} rows are there: LOST",
                a.id
            ),
            Err(f) => {
                assert!(!f.code.is_empty() && !f.message.is_empty(), "{what}: {f:?}");
                assert!(
                    f.closed_or_fatal,
                    "{what}: id {}: a fault should fail as closed/fatal/timeout: {f:?}",
                    a.id
                );
                match f.outcome {
                    Outcome::NotExecuted => assert_eq!(
                        n, 0,
                        "{what}: id {} reported NotExecuted but ran: {f:?}",
                        a.id
                    ),
                    Outcome::Unknown => assert!(
                        n == 0 || n == full,
                        "{what}: id {}: a transaction half-applied ({n} of {full})",
                        a.id
                    ),
                }
            }
        }
    }
    for id in rows.keys() {
        assert!(
            seen.contains(id),
            "{what}: id {id} in the table was never written"
        );
    }
}

fn parse_counts(out: &str) -> HashMap<i64, usize> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, n) = l.split_once('|').expect("id|count");
            (id.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

pub fn fresh_table(url: &str, table: &str, grant_to: Option<&str>) {
    psql_at(
        url,
        &format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id bigint, part text)"),
    );
    if let Some(role) = grant_to {
        psql_at(url, &format!("GRANT SELECT, INSERT ON {table} TO {role}"));
    }
}

pub fn table_counts(url: &str, table: &str) -> HashMap<i64, usize> {
    parse_counts(&psql_at(
        url,
        &format!("SELECT id, count(*) FROM {table} GROUP BY id"),
    ))
}
