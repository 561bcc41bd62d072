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

use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise, Reflect, Uint8Array};
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
        // `write` usually returns undefined (the kernel took the bytes): no thenable check
        // then (Reflect.has on a non-object throws, and a throw per query is not cheap).
        if value.is_instance_of::<Promise>()
            || (value.is_object()
                && Reflect::has(&value, &JsValue::from_str("then")).unwrap_or(false))
        {
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
            let chunk = self
                .call(&self.read, None)
                .await
                .map_err(|e| io_error("reading from the server", &e))?;
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
