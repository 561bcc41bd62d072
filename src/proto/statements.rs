//! The opt-in cache of named prepared statements, per connection (`statement_cache=N`).
//!
//! A statement seen before runs as Bind/Describe/Execute on its server-side name, so the server
//! skips parsing and planning. Only for direct connections: a transaction-mode pooler
//! (PgBouncer, Hyperdrive) moves the next transaction to another server connection, where the
//! name does not exist. Off by default: unnamed statements work everywhere.
//!
//! A statement enters the cache when its ParseComplete arrives (a Parse that failed, or was
//! skipped after an earlier error, never does). Past `capacity` the least recently used one is
//! closed on the server with the next request. When the server says a cached statement is gone
//! or no longer fits (someone ran `DEALLOCATE`/`DISCARD ALL`, or a table changed under a
//! `SELECT *`), the whole cache is forgotten: that request fails, later ones prepare anew.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;

use crate::proto::query::Statement;

/// The statements of one connection.
#[derive(Debug, Default)]
pub(crate) struct StatementCache {
    capacity: usize,
    /// key (SQL text and parameter types) → (server-side name, last use).
    entries: HashMap<String, (String, u64)>,
    /// (use, key) for every use, oldest first: the first whose use is still its entry's last
    /// is the least recently used, so eviction costs O(1) amortized however large the cache
    /// (up to 10 000), not a scan. Records a later use made stale are skipped, and dropped
    /// all at once when they outnumber the live ones.
    by_use: VecDeque<(u64, String)>,
    /// Counts uses; every use gets its own number.
    uses: u64,
    next_name: u64,
    /// Names evicted, to close on the server with the next request.
    to_close: Vec<String>,
}

/// How one statement of a request is sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Parsed as the unnamed statement (the cache is off).
    Unnamed,
    /// Run on its server-side name, without a Parse.
    Cached(String),
    /// Parsed under `name`; enters the cache as `key` when its ParseComplete arrives.
    Prepare { name: String, key: String },
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache {
            capacity,
            ..StatementCache::default()
        }
    }

    /// How to send `statement`: on its cached name, or parsed (named when the cache is on).
    pub(crate) fn plan(&mut self, statement: &Statement) -> Plan {
        if self.capacity == 0 {
            return Plan::Unnamed;
        }
        let key = key_of(statement);
        self.uses += 1;
        if let Some((name, used)) = self.entries.get_mut(&key) {
            *used = self.uses;
            let name = name.clone();
            self.record_use(key);
            return Plan::Cached(name);
        }
        self.next_name += 1;
        Plan::Prepare {
            name: format!("edgepg_s{}", self.next_name),
            key,
        }
    }

    /// A named Parse completed: the statement exists on the server.
    /// Its completion counts as its latest use. The same statement prepared twice before the
    /// first completed keeps the later name; the earlier one is closed.
    pub(crate) fn parsed(&mut self, key: String, name: String) {
        self.uses += 1;
        if let Some((earlier, _)) = self.entries.insert(key.clone(), (name, self.uses)) {
            self.to_close.push(earlier);
        }
        self.record_use(key);
        while self.entries.len() > self.capacity {
            let Some((used, oldest)) = self.by_use.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&oldest)
                .is_some_and(|(_, last)| *last == used)
                && let Some((name, _)) = self.entries.remove(&oldest)
            {
                self.to_close.push(name);
            }
        }
    }

    /// Notes that `key` was used now (its entry already says so).
    fn record_use(&mut self, key: String) {
        self.by_use.push_back((self.uses, key));
        if self.by_use.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.by_use
                .retain(|(used, key)| entries.get(key).is_some_and(|(_, last)| last == used));
        }
    }

    /// Names to close on the server now.
    pub(crate) fn take_closes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.to_close)
    }

    /// The server no longer has (or can no longer use) what the cache holds: forget it all.
    /// Statements that still exist stay until the session ends.
    pub(crate) fn forget(&mut self) {
        self.entries.clear();
        self.by_use.clear();
    }

    /// Whether a server error means the cached statements cannot be trusted any more:
    /// `26000` (the statement does not exist: DEALLOCATE, DISCARD ALL) or `0A000` "cached plan
    /// must not change result type" (the table changed).
    pub(crate) fn invalidated_by(code: &str, message: &str) -> bool {
        code == "26000" || (code == "0A000" && message.contains("cached plan"))
    }

    /// The number of statements cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

fn key_of(statement: &Statement) -> String {
    let mut key = String::with_capacity(statement.sql.len() + 4 * statement.params.len() + 1);
    key.push_str(&statement.sql);
    key.push('\0');
    for p in &statement.params {
        let _ = write!(key, "{},", p.oid);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and name of a statement `c` plans to prepare (it must).
    fn prepared(c: &mut StatementCache, s: &Statement) -> (String, String) {
        match c.plan(s) {
            Plan::Prepare { name, key } => (key, name),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn off_means_unnamed_and_always_parsed() {
        let mut c = StatementCache::new(0);
        let s = Statement::new("SELECT 1");
        for _ in 0..2 {
            assert_eq!(c.plan(&s), Plan::Unnamed);
        }
    }

    #[test]
    fn cached_after_parse_complete_then_least_recently_used_evicted() {
        let mut c = StatementCache::new(2);
        let (a, b, d) = (
            Statement::new("SELECT 1"),
            Statement::new("SELECT 2"),
            Statement::new("SELECT 3"),
        );
        let (a_key, a_name) = prepared(&mut c, &a);
        // Not cached until its ParseComplete: a second use before that parses again.
        prepared(&mut c, &a);
        c.parsed(a_key, a_name.clone());
        assert_eq!(c.plan(&a), Plan::Cached(a_name.clone()));
        let (b_key, b_name) = prepared(&mut c, &b);
        c.parsed(b_key, b_name.clone());
        assert_eq!(c.plan(&a), Plan::Cached(a_name.clone())); // a used after b: b is the oldest
        let (d_key, d_name) = prepared(&mut c, &d);
        c.parsed(d_key, d_name);
        assert_eq!(c.len(), 2);
        assert_eq!(c.take_closes(), vec![b_name]);
        assert!(c.take_closes().is_empty());
        assert_eq!(c.plan(&a), Plan::Cached(a_name));
        c.forget();
        prepared(&mut c, &a);
    }

    /// Against a plain model (a list in order of use) over a long random run of plans and
    /// completions, with more statements than fit: the same hits, the same closes, in order.
    #[test]
    fn evicts_exactly_the_least_recently_used() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut c = StatementCache::new(8);
        // Cached keys, least recently used first; and the name each has.
        let mut model: Vec<(String, String)> = Vec::new();
        let mut pending: Vec<(String, String)> = Vec::new();
        for _ in 0..20_000 {
            if !pending.is_empty() && next(3) == 0 {
                let (key, name) = pending.remove(next(pending.len() as u64) as usize);
                c.parsed(key.clone(), name.clone());
                let mut closes = Vec::new();
                if let Some(at) = model.iter().position(|(k, _)| *k == key) {
                    closes.push(model.remove(at).1);
                }
                model.push((key, name));
                while model.len() > 8 {
                    closes.push(model.remove(0).1);
                }
                assert_eq!(c.take_closes(), closes);
                continue;
            }
            let s = Statement::new(format!("SELECT {}", next(12)));
            match c.plan(&s) {
                Plan::Cached(name) => {
                    let at = model.iter().position(|(_, n)| *n == name).expect("cached");
                    let entry = model.remove(at);
                    model.push(entry);
                }
                Plan::Prepare { name, key } => {
                    assert!(!model.iter().any(|(k, _)| *k == key), "{key:?} was cached");
                    pending.push((key, name));
                }
                Plan::Unnamed => panic!("the cache is on"),
            }
            assert_eq!(c.len(), model.len());
            assert!(c.by_use.len() <= 2 * model.len() + 65, "{}", c.by_use.len());
        }
    }

    #[test]
    fn parameter_types_are_part_of_the_key() {
        let mut c = StatementCache::new(4);
        let mut typed = Statement::new("SELECT $1");
        typed.params.push(crate::proto::Param {
            oid: 23,
            format: crate::proto::types::Format::Text,
            value: None,
        });
        let untyped = Statement::new("SELECT $1");
        let (key, name) = prepared(&mut c, &typed);
        c.parsed(key, name);
        prepared(&mut c, &untyped);
        assert!(matches!(c.plan(&typed), Plan::Cached(_)));
    }

    #[test]
    fn invalidating_errors() {
        assert!(StatementCache::invalidated_by(
            "26000",
            "prepared statement \"edgepg_s1\" does not exist"
        ));
        assert!(StatementCache::invalidated_by(
            "0A000",
            "cached plan must not change result type"
        ));
        assert!(!StatementCache::invalidated_by("0A000", "something else"));
        assert!(!StatementCache::invalidated_by("22012", "division by zero"));
    }
}
