//! The wasm surface: the only code that touches `JsValue` (besides the transports it wraps).
//!
//! The TypeScript layer in `js/` calls these exports; users never see them directly. Runtime
//! capabilities come in as arguments (a socket factory, a WebSocket URL and constructor), so one
//! `.wasm` loads unchanged in every runtime.

mod runtime;
mod socket;
mod values;
mod websocket;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{Error, Result};
use crate::pool::{ListenerId, Pool, PoolEvent, PoolOptions, ScopeId, Transaction};
use crate::proto::config::SslMode;
use crate::proto::{Config, QueryResult, Request, Statement};
use crate::transport::Connector;

pub use runtime::JsRuntime;
pub use socket::{JsSocket, JsSocketConnector};
use values::PartsSink;
pub use websocket::{UrlSource, WebSocketConnector, WebSocketTransport};

/// The pool as the TS layer sees it.
#[wasm_bindgen]
pub struct WasmPool {
    pool: Pool,
    /// The TS layer's row builder (see `values::PartsSink`).
    build: Function,
}

/// A transaction as the TS layer sees it.
#[wasm_bindgen]
pub struct WasmTransaction {
    tx: Rc<RefCell<Option<Transaction>>>,
    array_mode: bool,
    build: Function,
    /// The pool caches named statements.
    cached: bool,
}

#[wasm_bindgen]
impl WasmPool {
    /// The isolate's pool for `url`, `options` and `transport` (see `js/src/core.ts`).
    /// `transport` is `{ kind: 'websocket', url, webSocket? }` or `{ kind: 'socket', factory }`;
    /// `transportKey` names it in the isolate registry. `buildRows(fields, text, bytes,
    /// arrayMode)` makes the rows of one part of a result (js/src/results.ts).
    pub fn create(
        url: &str,
        options: &JsValue,
        transport: &JsValue,
        #[wasm_bindgen(js_name = transportKey)] transport_key: &str,
        #[wasm_bindgen(js_name = buildRows)] build: Function,
    ) -> std::result::Result<WasmPool, JsValue> {
        let mut config = Config::parse(url).map_err(error_to_js)?;
        let pool_options = pool_options(&mut config, options).map_err(error_to_js)?;
        let connector = connector(transport).map_err(error_to_js)?;
        let mut pool_options = pool_options;
        pool_options.isolated_requests =
            Reflect::get(transport, &JsValue::from_str("isolatedRequests"))
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
        let pool = Pool::shared(
            config,
            pool_options,
            connector,
            Rc::new(JsRuntime),
            transport_key,
        );
        Ok(WasmPool { pool, build })
    }

    /// Runs one statement; resolves to its result as `result_to_js` makes it (the TS layer's
    /// `RawResult`: `[head, …parts]`, a small result's values in the head).
    pub fn query(
        &self,
        sql: String,
        params: Array,
        #[wasm_bindgen(js_name = arrayMode)] array_mode: bool,
        scope: f64,
    ) -> Promise {
        let pool = self.pool.clone();
        let cached = caches_statements(&pool);
        let sink = Rc::new(PartsSink::new(array_mode, self.build.clone()));
        future_to_promise(async move {
            let request = request(sql, &params, cached)?;
            let results = pool
                .query_streaming_in(ScopeId(scope as u64), request, Some(sink.clone()))
                .await
                .map_err(error_to_js)?;
            last_result(&results, &sink)
        })
    }

    /// Runs several statements as one request: one round trip, one implicit transaction.
    /// `queries` is `[{ sql, params }]`; resolves to an array of results.
    pub fn batch(
        &self,
        queries: Array,
        #[wasm_bindgen(js_name = arrayMode)] array_mode: bool,
        scope: f64,
    ) -> Promise {
        let pool = self.pool.clone();
        let sink = Rc::new(PartsSink::new(array_mode, self.build.clone()));
        future_to_promise(async move {
            let statements = queries
                .iter()
                .map(|q| {
                    let sql = Reflect::get(&q, &"sql".into())?
                        .as_string()
                        .unwrap_or_default();
                    let params: Array = Reflect::get(&q, &"params".into())?
                        .dyn_into()
                        .unwrap_or_default();
                    statement(sql, &params)
                })
                .collect::<std::result::Result<Vec<_>, JsValue>>()?;
            let results = pool
                .query_streaming_in(
                    ScopeId(scope as u64),
                    Request::Extended(statements),
                    Some(sink.clone()),
                )
                .await
                .map_err(error_to_js)?;
            all_results(&results, &sink)
        })
    }

    /// Borrows a connection for a transaction; resolves to a `WasmTransaction`.
    pub fn begin(
        &self,
        #[wasm_bindgen(js_name = arrayMode)] array_mode: bool,
        scope: f64,
    ) -> Promise {
        let pool = self.pool.clone();
        let build = self.build.clone();
        future_to_promise(async move {
            let tx = pool
                .begin_in(ScopeId(scope as u64))
                .await
                .map_err(error_to_js)?;
            Ok(WasmTransaction {
                tx: Rc::new(RefCell::new(Some(tx))),
                array_mode,
                build,
                cached: caches_statements(&pool),
            }
            .into())
        })
    }

    /// The pool's counters as a plain object.
    pub fn stats(&self) -> JsValue {
        let s = self.pool.stats();
        let o = Object::new();
        for (k, v) in [
            ("open", s.open as f64),
            ("idle", s.idle as f64),
            ("busy", s.busy as f64),
            ("waiting", s.waiting as f64),
            ("created", s.created as f64),
            ("reused", s.reused as f64),
            ("discarded", s.discarded as f64),
            ("timeouts", s.timeouts as f64),
            ("roundTrips", s.round_trips as f64),
            ("max", self.pool.options().max as f64),
        ] {
            let _ = Reflect::set(&o, &k.into(), &v.into());
        }
        o.into()
    }

    /// The effective idle timeout in ms.
    #[wasm_bindgen(js_name = idleTimeoutMs)]
    pub fn idle_timeout_ms(&self) -> f64 {
        self.pool.options().idle_timeout.as_millis() as f64
    }

    /// Closes idle connections and stops lending; resolves when their sockets closed.
    pub fn end(&self) -> Promise {
        let pool = self.pool.clone();
        done(async move {
            pool.end().await;
            Ok(())
        })
    }

    /// Adds `listener(name, detail?)`, called for every pool event: `connect`, `acquire`,
    /// `release`, `remove`, `error`. Returns its id for `removeListener`; other handles of a
    /// shared pool keep their own listeners.
    #[wasm_bindgen(js_name = addListener)]
    pub fn add_listener(&self, listener: Function) -> f64 {
        let id = self.pool.add_listener(Rc::new(move |event: &PoolEvent| {
            let (name, detail) = match event {
                PoolEvent::Connect => ("connect", None),
                PoolEvent::Acquire => ("acquire", None),
                PoolEvent::Release => ("release", None),
                PoolEvent::Remove => ("remove", None),
                PoolEvent::Error(message) => ("error", Some(message.as_str())),
            };
            let detail = detail.map(JsValue::from_str).unwrap_or(JsValue::UNDEFINED);
            let _ = listener.call2(&JsValue::NULL, &JsValue::from_str(name), &detail);
        }));
        id.0 as f64
    }

    /// Removes a listener added with `addListener`.
    #[wasm_bindgen(js_name = removeListener)]
    pub fn remove_listener(&self, id: f64) {
        self.pool.remove_listener(ListenerId(id as u64));
    }

    /// Resolves once the pool holds no connection (idle ones closed by their idle timeout).
    pub fn idle(&self) -> Promise {
        let pool = self.pool.clone();
        done(async move {
            pool.idle().await;
            Ok(())
        })
    }

    /// Ends a request scope: closes its idle connections; resolves when they closed.
    #[wasm_bindgen(js_name = endScope)]
    pub fn end_scope(&self, scope: f64) -> Promise {
        let pool = self.pool.clone();
        done(async move {
            pool.end_scope(ScopeId(scope as u64)).await;
            Ok(())
        })
    }
}

#[wasm_bindgen]
impl WasmTransaction {
    /// Runs one statement in the transaction.
    pub fn query(&self, sql: String, params: Array) -> Promise {
        let cell = self.tx.clone();
        let cached = self.cached;
        let sink = Rc::new(PartsSink::new(self.array_mode, self.build.clone()));
        future_to_promise(async move {
            let request = request(sql, &params, cached)?;
            let mut tx = take(&cell)?;
            tx.set_row_sink(Some(sink.clone()));
            let result = tx.query(request).await;
            tx.set_row_sink(None);
            *cell.borrow_mut() = Some(tx);
            last_result(&result.map_err(error_to_js)?, &sink)
        })
    }

    /// Commits; rejects if the server rolled back instead.
    pub fn commit(&self) -> Promise {
        let cell = self.tx.clone();
        done(async move { take(&cell)?.commit().await.map_err(error_to_js) })
    }

    /// Rolls back.
    pub fn rollback(&self) -> Promise {
        let cell = self.tx.clone();
        done(async move { take(&cell)?.rollback().await.map_err(error_to_js) })
    }
}

/// A promise of `undefined` once `work` is done (or of its error).
fn done(
    work: impl std::future::Future<Output = std::result::Result<(), JsValue>> + 'static,
) -> Promise {
    future_to_promise(async move { work.await.map(|()| JsValue::UNDEFINED) })
}

fn take(cell: &Rc<RefCell<Option<Transaction>>>) -> std::result::Result<Transaction, JsValue> {
    cell.borrow_mut().take().ok_or_else(|| {
        error_to_js(Error::from_message(
            "the transaction is finished or busy: await each statement before the next",
        ))
    })
}

/// One statement as a request. Without parameters it goes as a simple Query message, as `pg`
/// does: one message instead of five, and less work for the server and the pooler; unless
/// statements are cached (`cached`), when a single statement (no `;`) is worth preparing.
fn request(sql: String, params: &Array, cached: bool) -> std::result::Result<Request, JsValue> {
    if params.length() == 0 && (!cached || sql.contains(';')) {
        return Ok(Request::Simple(sql));
    }
    Ok(Request::statement(statement(sql, params)?))
}

fn caches_statements(pool: &Pool) -> bool {
    pool.options().client.statement_cache.is_some_and(|n| n > 0)
}

fn statement(sql: String, params: &Array) -> std::result::Result<Statement, JsValue> {
    let params = values::params_from_js(params).map_err(error_to_js)?;
    Ok(Statement {
        sql,
        params,
        result_format: crate::proto::types::Format::Text,
    })
}

/// The last statement's result (one statement, or the last of a simple query's several).
fn last_result(results: &[QueryResult], sink: &PartsSink) -> std::result::Result<JsValue, JsValue> {
    let empty = QueryResult::default();
    let last = results.len().saturating_sub(1);
    sink.finish(last, results.last().unwrap_or(&empty))
        .map_err(error_to_js)
}

fn all_results(results: &[QueryResult], sink: &PartsSink) -> std::result::Result<JsValue, JsValue> {
    let out = Array::new();
    for (i, r) in results.iter().enumerate() {
        out.push(&sink.finish(i, r).map_err(error_to_js)?);
    }
    Ok(out.into())
}

fn pool_options(config: &mut Config, options: &JsValue) -> Result<PoolOptions> {
    let number = |key: &str| -> Option<f64> {
        Reflect::get(options, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_f64())
    };
    let millis = |key: &str| {
        number(key)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| Duration::from_millis(v as u64))
    };
    if let Some(t) = millis("connectTimeoutMs") {
        config.connect_timeout = Some(t);
    }
    if let Ok(ssl) = Reflect::get(options, &JsValue::from_str("ssl")) {
        if let Some(b) = ssl.as_bool() {
            config.ssl_mode = if b {
                SslMode::Require
            } else {
                SslMode::Disable
            };
        } else if let Some(mode) = ssl.as_string() {
            let parsed = Config::parse(&format!("postgres://u@h/d?sslmode={mode}"))?;
            config.ssl_mode = parsed.ssl_mode;
        }
    }
    let mut o = PoolOptions::from_config(config);
    if let Some(max) = number("max") {
        if !(1.0..=10_000.0).contains(&max) {
            return Err(Error::config("max must be a number from 1 to 10000"));
        }
        o.max = max as usize;
    }
    if let Some(t) = millis("idleTimeoutMs") {
        o.idle_timeout = t;
    }
    if let Some(t) = millis("acquireTimeoutMs") {
        o.acquire_timeout = t;
    }
    if let Some(t) = millis("maxLifetimeMs") {
        o.max_lifetime = Some(t);
    }
    if let Some(t) = millis("queryTimeoutMs") {
        o.client.query_timeout = Some(t);
    }
    if let Some(n) = number("maxResultBytes") {
        o.client.max_result_bytes = n as usize;
    }
    if let Some(n) = number("statementCache") {
        if !(0.0..=10_000.0).contains(&n) {
            return Err(Error::config(
                "statementCache must be a number from 0 to 10000",
            ));
        }
        o.client.statement_cache = Some(n as usize);
    }
    Ok(o)
}

fn connector(transport: &JsValue) -> Result<Rc<dyn Connector>> {
    let get =
        |key: &str| Reflect::get(transport, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    match get("kind").as_string().as_deref() {
        Some("socket") => {
            let factory: Function = get("factory")
                .dyn_into()
                .map_err(|_| Error::config("a socket transport needs a factory function"))?;
            Ok(Rc::new(JsSocketConnector::new(factory)))
        }
        Some("websocket") => {
            let url = get("url");
            let source = if let Some(s) = url.as_string() {
                UrlSource::Template(s)
            } else if let Some(f) = url.dyn_ref::<Function>() {
                UrlSource::Function(f.clone())
            } else {
                return Err(Error::config(
                    "webSocketUrl must be a template string like ws://host:port/v2?address={host}:{port} or a function (host, port) => url",
                ));
            };
            let ctor = get("webSocket").dyn_into::<Function>().ok();
            Ok(Rc::new(WebSocketConnector::new(source, ctor)))
        }
        _ => Err(Error::config(
            "unknown transport: expected kind 'socket' or 'websocket'",
        )),
    }
}

/// Converts an error to the plain object the TS layer turns into `PostgresError` or
/// `ConnectionError`.
pub(crate) fn error_to_js(e: Error) -> JsValue {
    let o = Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &v);
    };
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(JsValue::from_str)
            .unwrap_or(JsValue::UNDEFINED)
    };
    set("edgepgError", JsValue::TRUE);
    set("message", JsValue::from_str(&e.to_string()));
    set("code", JsValue::from_str(e.code()));
    set(
        "outcome",
        JsValue::from_str(match e.outcome() {
            crate::error::Outcome::NotExecuted => "not_executed",
            crate::error::Outcome::Unknown => "unknown",
        }),
    );
    match e.as_db_error() {
        // A refused login is a connection failure with a stable code, whatever SQLSTATE the
        // server or pooler chose (28P01, 28000, PgBouncer's 08P01); the SQLSTATE is kept.
        Some(db) if e.is_auth() => {
            set("kind", JsValue::from_str("connection"));
            set("code", JsValue::from_str("auth_failed"));
            set("sqlState", JsValue::from_str(&db.code));
            set("message", JsValue::from_str(&db.message));
        }
        Some(db) => {
            set("kind", JsValue::from_str("postgres"));
            set("message", JsValue::from_str(&db.message));
            set("severity", JsValue::from_str(&db.severity));
            set("detail", opt(&db.detail));
            set("hint", opt(&db.hint));
            set(
                "position",
                db.position
                    .map(|p| JsValue::from_f64(p as f64))
                    .unwrap_or(JsValue::UNDEFINED),
            );
            set(
                "internalPosition",
                db.internal_position
                    .map(|p| JsValue::from_f64(p as f64))
                    .unwrap_or(JsValue::UNDEFINED),
            );
            set("internalQuery", opt(&db.internal_query));
            set("where", opt(&db.where_));
            set("schema", opt(&db.schema));
            set("table", opt(&db.table));
            set("column", opt(&db.column));
            set("dataType", opt(&db.data_type));
            set("constraint", opt(&db.constraint));
            set("file", opt(&db.file));
            set(
                "line",
                db.line
                    .map(|l| JsValue::from_f64(l as f64))
                    .unwrap_or(JsValue::UNDEFINED),
            );
            set("routine", opt(&db.routine));
        }
        None => {
            set("kind", JsValue::from_str("connection"));
            if e.is_auth() {
                set("code", JsValue::from_str("auth_failed"));
            }
        }
    }
    o.into()
}
