//! The WebSocket transport (web-sys): raw protocol bytes in binary frames, one pipelined
//! request per frame, for browsers, Vercel Edge and any runtime with a WHATWG WebSocket (or a
//! constructor passed in, such as the `ws` package on Node).
//!
//! Outgoing bytes are copied into a JS-owned buffer before `send`: a runtime may read the
//! buffer after `send` returns, when wasm memory has already been reused.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::future::LocalBoxFuture;
use js_sys::{Array, ArrayBuffer, Function, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::error::{Error, Kind, Result};
use crate::js::runtime::JsRuntime;
use crate::proto::TransportSecurity;
use crate::transport::{Connector, Runtime, Transport};

/// Bytes queued in the socket beyond which `write` waits for the runtime to drain them.
const HIGH_WATER: u32 = 1 << 20;

/// Opens WebSockets to a URL made from the host and port.
pub struct WebSocketConnector {
    url: UrlSource,
    constructor: Option<Function>,
}

/// How the WebSocket URL is made: a template with `{host}` and `{port}`, or a JS function
/// `(host, port) => url`.
pub enum UrlSource {
    /// A template such as `wss://proxy.example.com/v2?address={host}:{port}`.
    Template(String),
    /// A function returning the URL.
    Function(Function),
}

/// An open WebSocket.
pub struct WebSocketTransport {
    ws: WebSocket,
    state: Rc<RefCell<State>>,
    secure: bool,
    _handlers: Handlers,
}

#[derive(Default)]
struct State {
    open: bool,
    chunks: VecDeque<Vec<u8>>,
    closed: Option<String>,
    waker: Option<Waker>,
}

struct Handlers {
    ws: WebSocket,
    _open: Closure<dyn FnMut(JsValue)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(JsValue)>,
    _error: Closure<dyn FnMut(JsValue)>,
}

impl WebSocketConnector {
    /// A connector; `constructor` replaces the global `WebSocket` when given.
    pub fn new(url: UrlSource, constructor: Option<Function>) -> WebSocketConnector {
        WebSocketConnector { url, constructor }
    }

    fn url(&self, host: &str, port: u16) -> Result<String> {
        match &self.url {
            UrlSource::Template(t) => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_string()
                };
                Ok(t.replace("{host}", &host)
                    .replace("{port}", &port.to_string()))
            }
            UrlSource::Function(f) => f
                .call2(
                    &JsValue::NULL,
                    &JsValue::from_str(host),
                    &JsValue::from_f64(port as f64),
                )
                .ok()
                .and_then(|v| v.as_string())
                .ok_or_else(|| Error::config("webSocketUrl(host, port) must return a string")),
        }
    }
}

impl Connector for WebSocketConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let url = self.url(host, port)?;
            let ws: WebSocket = match &self.constructor {
                Some(ctor) => Reflect::construct(ctor, &Array::of1(&JsValue::from_str(&url)))
                    .map_err(|e| connect_error(&url, &e))?
                    .unchecked_into(),
                None => WebSocket::new(&url).map_err(|e| connect_error(&url, &e))?,
            };
            ws.set_binary_type(BinaryType::Arraybuffer);
            if self.constructor.is_some() {
                prefer_node_buffers(&ws);
            }
            let state = Rc::new(RefCell::new(State::default()));
            let handlers = Handlers::attach(&ws, &state);
            let transport = WebSocketTransport {
                ws,
                state,
                secure: url.starts_with("wss:"),
                _handlers: handlers,
            };
            poll_fn(|cx| {
                let mut st = transport.state.borrow_mut();
                if st.open {
                    Poll::Ready(Ok(()))
                } else if let Some(reason) = &st.closed {
                    Poll::Ready(Err(Error::new(
                        Kind::Connect,
                        format!(
                            "could not reach {host}:{port} through the WebSocket proxy at {}: \
                             {reason} (is the proxy running, and does it allow this address?)",
                            redact(&url)
                        ),
                    )))
                } else {
                    st.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await?;
            Ok(Box::new(transport) as Box<dyn Transport>)
        })
    }
}

impl Handlers {
    fn attach(ws: &WebSocket, state: &Rc<RefCell<State>>) -> Handlers {
        let wake = |st: &mut State| {
            if let Some(w) = st.waker.take() {
                w.wake();
            }
        };
        let s = state.clone();
        let open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let mut st = s.borrow_mut();
            st.open = true;
            wake(&mut st);
        });
        let s = state.clone();
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            let bytes = if let Some(buf) = data.dyn_ref::<ArrayBuffer>() {
                Uint8Array::new(buf).to_vec()
            } else if let Some(view) = data.dyn_ref::<Uint8Array>() {
                view.to_vec()
            } else {
                // A text frame is not Postgres protocol: treat it as a broken stream.
                let mut st = s.borrow_mut();
                st.closed
                    .get_or_insert_with(|| "the proxy sent a text frame".into());
                wake(&mut st);
                return;
            };
            let mut st = s.borrow_mut();
            st.chunks.push_back(bytes);
            wake(&mut st);
        });
        let s = state.clone();
        let close = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let mut st = s.borrow_mut();
            let reason = e
                .dyn_ref::<CloseEvent>()
                .map(|c| format!("closed with code {} {}", c.code(), c.reason()))
                .unwrap_or_else(|| "closed".into());
            st.closed.get_or_insert(reason);
            wake(&mut st);
        });
        let s = state.clone();
        let error = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let mut st = s.borrow_mut();
            st.closed
                .get_or_insert_with(|| "the WebSocket failed".into());
            wake(&mut st);
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(error.as_ref().unchecked_ref()));
        Handlers {
            ws: ws.clone(),
            _open: open,
            _message: message,
            _close: close,
            _error: error,
        }
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

impl Transport for WebSocketTransport {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Some(reason) = &self.state.borrow().closed {
                return Err(Error::closed(format!("the WebSocket is {reason}")));
            }
            while self.ws.buffered_amount() > HIGH_WATER {
                JsRuntime.sleep(1).await;
                if self.state.borrow().closed.is_some() {
                    break;
                }
            }
            // A JS-owned copy: the runtime may read it after send() returns.
            let copy = Uint8Array::from(data);
            self.ws
                .send_with_array_buffer(&copy.buffer())
                .map_err(|_| Error::closed("the WebSocket refused the write (closed)"))
        })
    }

    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, Result<usize>> {
        Box::pin(poll_fn(move |cx| {
            let mut st = self.state.borrow_mut();
            if let Some(chunk) = st.chunks.pop_front() {
                buf.extend_from_slice(&chunk);
                return Poll::Ready(Ok(chunk.len()));
            }
            if st.closed.is_some() {
                return Poll::Ready(Ok(0));
            }
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        }))
    }

    fn settle(&mut self) -> LocalBoxFuture<'_, ()> {
        // A zero timer is a macrotask: message and close events already queued run first.
        JsRuntime.sleep(0)
    }

    fn try_read(&mut self, buf: &mut Vec<u8>) -> Option<Result<usize>> {
        let mut st = self.state.borrow_mut();
        if let Some(chunk) = st.chunks.pop_front() {
            buf.extend_from_slice(&chunk);
            return Some(Ok(chunk.len()));
        }
        st.closed.is_some().then_some(Ok(0))
    }

    fn start_tls(&mut self) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(Error::new(
                Kind::Tls,
                "a WebSocket cannot switch to TLS: use a wss:// URL",
            ))
        })
    }

    fn security(&self) -> TransportSecurity {
        if self.secure {
            TransportSecurity::Secure
        } else {
            TransportSecurity::Plain
        }
    }

    fn close(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.ws.close();
        })
    }
}

/// Node's `ws` delivers binary frames as Buffers (Uint8Arrays) without the copy into an
/// ArrayBuffer that `arraybuffer` costs. Kept only where the implementation accepted the value:
/// a standard WebSocket ignores it and stays on `arraybuffer`.
fn prefer_node_buffers(ws: &WebSocket) {
    let key = JsValue::from_str("binaryType");
    let wanted = JsValue::from_str("nodebuffer");
    if Reflect::set(ws, &key, &wanted).is_err()
        || Reflect::get(ws, &key)
            .ok()
            .and_then(|v| v.as_string())
            .as_deref()
            != Some("nodebuffer")
    {
        ws.set_binary_type(BinaryType::Arraybuffer);
    }
}

fn connect_error(url: &str, e: &JsValue) -> Error {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| "invalid URL".into());
    Error::new(
        Kind::Connect,
        format!("could not open the WebSocket to {}: {detail}", redact(url)),
    )
}

/// A URL for messages: scheme, host and path, without user info or query.
fn redact(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
            format!("{scheme}://{rest}")
        }
        None => no_query.to_string(),
    }
}
