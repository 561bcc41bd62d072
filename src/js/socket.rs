//! A transport over a socket the JavaScript entrypoint provides: Workers' `connect()` from
//! `cloudflare:sockets`, or `node:net`. The entrypoint adapts each to one small interface
//! (`EdgeSocket` in `js/src/types.ts`), so the wasm never imports a runtime module itself:
//!
//! ```ts
//! interface EdgeSocket {
//!   readonly security: 'plain' | 'starttls' | 'secure';
//!   write(data: Uint8Array): Promise<void> | void;   // data is JS-owned: keep it
//!   read(): Promise<Uint8Array | null>;              // null: the peer closed
//!   startTls(): Promise<void>;
//!   close(): void;
//! }
//! type SocketFactory = (host: string, port: number) => Promise<EdgeSocket>;
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Kind, Result};
use crate::proto::TransportSecurity;
use crate::transport::{Connector, Transport};

/// Opens sockets through a JS factory function.
pub struct JsSocketConnector {
    factory: Function,
}

/// A socket object from the entrypoint.
pub struct JsSocket {
    socket: JsValue,
    write: Function,
    read: Function,
    /// The optional `pending()` and `settle()`, looked up once (not per query).
    pending: Option<Function>,
    settle: Option<Function>,
    security: TransportSecurity,
    reads: Reads,
}

/// What `read()` promises settle with, in the order they settle, delivered through two
/// callbacks made once per socket (not two closures per read, as `JsFuture` makes). The
/// stream's promises settle in stream order, so even the result of a read whose waiter gave
/// up (a timeout) is handed to the next read in its place: nothing is lost or reordered.
struct Reads {
    inbox: Rc<RefCell<Inbox>>,
    on_ok: Closure<dyn FnMut(JsValue)>,
    on_err: Closure<dyn FnMut(JsValue)>,
}

#[derive(Default)]
struct Inbox {
    settled: VecDeque<std::result::Result<JsValue, JsValue>>,
    waker: Option<Waker>,
    /// Promises registered and not settled yet: they will still call the callbacks.
    outstanding: usize,
}

impl Drop for Reads {
    fn drop(&mut self) {
        // A read still outstanding (the socket dropped mid-read, after a timeout) will call
        // its callback when the host settles it: that callback must outlive the socket.
        if self.inbox.borrow().outstanding > 0 {
            let noop = || Closure::new(|_: JsValue| {});
            std::mem::replace(&mut self.on_ok, noop()).forget();
            std::mem::replace(&mut self.on_err, noop()).forget();
        }
    }
}

impl Reads {
    fn new() -> Reads {
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let settle = |inbox: Rc<RefCell<Inbox>>, ok: bool| {
            move |value: JsValue| {
                let mut inbox = inbox.borrow_mut();
                inbox.outstanding = inbox.outstanding.saturating_sub(1);
                inbox
                    .settled
                    .push_back(if ok { Ok(value) } else { Err(value) });
                if let Some(waker) = inbox.waker.take() {
                    waker.wake();
                }
            }
        };
        Reads {
            on_ok: Closure::new(settle(inbox.clone(), true)),
            on_err: Closure::new(settle(inbox.clone(), false)),
            inbox,
        }
    }

    /// Waits for `promise`, or takes what an earlier abandoned read received first.
    async fn next(&self, promise: &Promise) -> std::result::Result<JsValue, JsValue> {
        let _ = promise.then2(&self.on_ok, &self.on_err);
        self.inbox.borrow_mut().outstanding += 1;
        std::future::poll_fn(|cx| {
            let mut inbox = self.inbox.borrow_mut();
            match inbox.settled.pop_front() {
                Some(result) => Poll::Ready(result),
                None => {
                    inbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl JsSocketConnector {
    /// Wraps `factory(host, port) => Promise<EdgeSocket>`.
    pub fn new(factory: Function) -> JsSocketConnector {
        JsSocketConnector { factory }
    }
}

impl Connector for JsSocketConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let refused = |e: JsValue| {
                Error::new(
                    Kind::Connect,
                    format!("could not connect to {host}:{port}: {}", js_message(&e)),
                )
            };
            let pending = self
                .factory
                .call2(
                    &JsValue::NULL,
                    &JsValue::from_str(host),
                    &JsValue::from_f64(port as f64),
                )
                .map_err(refused)?;
            let socket = JsFuture::from(Promise::resolve(&pending))
                .await
                .map_err(refused)?;
            let method = |name: &str| -> Result<Function> {
                Reflect::get(&socket, &JsValue::from_str(name))
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
                    .ok_or_else(|| {
                        Error::config(format!(
                            "the socket factory returned an object without {name}()"
                        ))
                    })
            };
            let security = match Reflect::get(&socket, &JsValue::from_str("security"))
                .ok()
                .and_then(|s| s.as_string())
                .as_deref()
            {
                Some("secure") => TransportSecurity::Secure,
                Some("starttls") => TransportSecurity::StartTls,
                _ => TransportSecurity::Plain,
            };
            Ok(Box::new(JsSocket {
                write: method("write")?,
                read: method("read")?,
                pending: method("pending").ok(),
                settle: method("settle").ok(),
                socket,
                security,
                reads: Reads::new(),
            }) as Box<dyn Transport>)
        })
    }
}

impl JsSocket {
    /// Calls one of the socket's methods, awaiting the result when it is a thenable.
    async fn call(
        &self,
        f: &Function,
        arg: Option<&JsValue>,
    ) -> std::result::Result<JsValue, JsValue> {
        let value = match arg {
            Some(a) => f.call1(&self.socket, a)?,
            None => f.call0(&self.socket)?,
        };
        if value.is_instance_of::<Promise>() || is_thenable(&value) {
            JsFuture::from(Promise::resolve(&value)).await
        } else {
            Ok(value)
        }
    }
}

impl Transport for JsSocket {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // A JS-owned copy: the runtime may read it after write() returns.
            let copy: JsValue = Uint8Array::from(data).into();
            self.call(&self.write, Some(&copy))
                .await
                .map(|_| ())
                .map_err(|e| io_error("writing to the server", &e))
        })
    }

    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let failed = |e: JsValue| io_error("reading from the server", &e);
            let value = self.read.call0(&self.socket).map_err(failed)?;
            let chunk = if value.is_instance_of::<Promise>() {
                self.reads
                    .next(value.unchecked_ref())
                    .await
                    .map_err(failed)?
            } else if is_thenable(&value) {
                // A promise of another realm (a VM context): adopted by a native one.
                let promise = Promise::resolve(&value);
                self.reads.next(&promise).await.map_err(failed)?
            } else {
                value
            };
            if chunk.is_null() || chunk.is_undefined() {
                return Ok(0);
            }
            let chunk: Uint8Array = chunk.dyn_into().map_err(|_| {
                Error::protocol("the socket's read() returned something other than a Uint8Array")
            })?;
            let start = buf.len();
            buf.resize(start + chunk.length() as usize, 0);
            chunk.copy_to(&mut buf[start..]);
            Ok(chunk.length() as usize)
        })
    }

    fn settle(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            // Optional `settle(): Promise<void>`: one host event-loop turn (node: setImmediate).
            if let Some(f) = &self.settle {
                let _ = self.call(f, None).await;
            }
        })
    }

    fn try_read(&mut self, buf: &mut Vec<u8>) -> Option<Result<usize>> {
        // Optional `pending(): Uint8Array | null | undefined` — what already arrived (null: the
        // peer closed), synchronously.
        let value = self.pending.as_ref()?.call0(&self.socket).ok()?;
        if value.is_undefined() {
            return None;
        }
        if value.is_null() {
            return Some(Ok(0));
        }
        let chunk: Uint8Array = value.dyn_into().ok()?;
        let start = buf.len();
        buf.resize(start + chunk.length() as usize, 0);
        chunk.copy_to(&mut buf[start..]);
        Some(Ok(chunk.length() as usize))
    }

    fn start_tls(&mut self) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let f = Reflect::get(&self.socket, &JsValue::from_str("startTls"))
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok())
                .ok_or_else(|| Error::new(Kind::Tls, "this socket cannot switch to TLS"))?;
            self.call(&f, None).await.map(|_| ()).map_err(|e| {
                Error::new(
                    Kind::Tls,
                    format!("the TLS handshake failed: {}", js_message(&e)),
                )
            })
        })
    }

    fn security(&self) -> TransportSecurity {
        self.security
    }

    fn close(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(f) = Reflect::get(&self.socket, &JsValue::from_str("close"))
                && let Ok(f) = f.dyn_into::<Function>()
            {
                let _ = self.call(&f, None).await;
            }
        })
    }
}

/// An object with a `then` (checked only on objects: `write` usually returns undefined, and
/// Reflect.has on a non-object throws, which is not cheap once per query).
fn is_thenable(value: &JsValue) -> bool {
    value.is_object() && Reflect::has(value, &JsValue::from_str("then")).unwrap_or(false)
}

/// A socket failure (see `transport::io_failure`).
fn io_error(doing: &str, e: &JsValue) -> Error {
    crate::transport::io_failure(doing, &js_message(e))
}

/// The message of a thrown JS value.
pub(crate) fn js_message(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| "unknown error".into())
}
