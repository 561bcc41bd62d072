//! A native WebSocket transport (feature `proxy`): the driver over `edgepg-proxy` from tokio,
//! for tests and benchmarks of the path edge runtimes take. Plain `ws://` only.
//!
//! Each [`Transport::write`] is one binary frame (a pipelined request stays one frame);
//! each [`Transport::read`] returns the payload of the next binary frame.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::error::{Error, Kind, Result};
use crate::proto::TransportSecurity;
use crate::transport::{Connector, Transport};

/// How long closing may wait for the socket before giving up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens WebSocket connections to a proxy with tokio-tungstenite over a tokio TCP stream.
///
/// `url_template` is a `ws://` URL in which `{host}` and `{port}` are replaced by the
/// database's host and port, e.g. `ws://127.0.0.1:58080/v2?address={host}:{port}` (the Neon
/// wsproxy convention, see [`WsConnector::proxy`]). A template without placeholders is used
/// as is, for a proxy with a fixed upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsConnector {
    /// The URL to open, with `{host}` and `{port}` placeholders.
    pub url_template: String,
}

/// One WebSocket connection to the proxy.
pub struct WsTransport {
    ws: WebSocketStream<TcpStream>,
}

impl WsConnector {
    /// A connector for the URL template as given.
    pub fn new(url_template: impl Into<String>) -> WsConnector {
        WsConnector {
            url_template: url_template.into(),
        }
    }

    /// A connector for a proxy at `base_url` (e.g. `ws://127.0.0.1:58080/v2`, the value of
    /// `EDGEPG_WS_URL`) that names the upstream with `?address={host}:{port}`.
    pub fn proxy(base_url: &str) -> WsConnector {
        let separator = if base_url.contains('?') { '&' } else { '?' };
        WsConnector::new(format!("{base_url}{separator}address={{host}}:{{port}}"))
    }

    /// The URL opened for `host:port`.
    pub fn url_for(&self, host: &str, port: u16) -> String {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        self.url_template
            .replace("{host}", &percent_encode(&host))
            .replace("{port}", &port.to_string())
    }
}

impl Connector for WsConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let url = self.url_for(host, port);
            let request = url.as_str().into_client_request().map_err(|e| {
                Error::config(format!(
                    "the WebSocket URL {:?} is not valid: {e}",
                    redact(&url)
                ))
            })?;
            let uri = request.uri();
            match uri.scheme_str() {
                Some("ws") => {}
                Some("wss") => {
                    return Err(Error::new(
                        Kind::Tls,
                        "the native WebSocket transport does not do TLS: use a ws:// URL",
                    ));
                }
                _ => {
                    return Err(Error::config(format!(
                        "{:?} is not a ws:// URL",
                        redact(&url)
                    )));
                }
            }
            let proxy_host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
                .ok_or_else(|| Error::config(format!("{:?} names no host", redact(&url))))?;
            let proxy_port = uri.port_u16().unwrap_or(80);
            let stream = TcpStream::connect((proxy_host.as_str(), proxy_port))
                .await
                .map_err(|e| {
                    Error::new(
                        Kind::Connect,
                        format!(
                            "could not connect to the WebSocket proxy at \
                             {proxy_host}:{proxy_port}: {e}"
                        ),
                    )
                })?;
            let _ = stream.set_nodelay(true);
            let (ws, _response) = tokio_tungstenite::client_async(request, stream)
                .await
                .map_err(|e| handshake_error(e, host, port))?;
            Ok(Box::new(WsTransport { ws }) as Box<dyn Transport>)
        })
    }
}

impl Transport for WsTransport {
    fn write<'a>(
        &'a mut self,
        data: &'a [u8],
    ) -> futures_util::future::LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.ws
                .send(Message::Binary(Bytes::copy_from_slice(data)))
                .await
                .map_err(|e| Error::closed(format!("writing to the WebSocket failed: {e}")))
        })
    }

    fn read<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            loop {
                match self.ws.next().await {
                    // An empty frame carries nothing; returning 0 would mean "closed".
                    Some(Ok(Message::Binary(data))) if data.is_empty() => {}
                    Some(Ok(Message::Binary(data))) => {
                        buf.extend_from_slice(&data);
                        return Ok(data.len());
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Text(_))) => {
                        return Err(Error::protocol(
                            "the WebSocket peer sent a text frame: is the URL a Postgres \
                             WebSocket proxy?",
                        ));
                    }
                    Some(Ok(Message::Close(None))) | None => return Ok(0),
                    Some(Ok(Message::Close(Some(frame)))) => {
                        if frame.code == CloseCode::Normal {
                            return Ok(0);
                        }
                        // The proxy says why (e.g. 1011 "upstream unreachable").
                        return Err(Error::closed(format!(
                            "the WebSocket proxy closed the connection: {} {}",
                            u16::from(frame.code),
                            frame.reason.as_str()
                        )));
                    }
                    Some(Err(e)) => {
                        return Err(Error::closed(format!(
                            "reading from the WebSocket failed: {e}"
                        )));
                    }
                }
            }
        })
    }

    fn start_tls(&mut self) -> futures_util::future::LocalBoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(Error::new(
                Kind::Tls,
                "the native WebSocket transport does not do TLS",
            ))
        })
    }

    fn security(&self) -> TransportSecurity {
        TransportSecurity::Plain
    }

    fn close(&mut self) -> futures_util::future::LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.close(None)).await;
        })
    }
}

/// Maps a failed upgrade to a connect error that says what to do next.
fn handshake_error(error: WsError, host: &str, port: u16) -> Error {
    let message = match error {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .map(|b| b.chars().take(200).collect::<String>())
                .unwrap_or_default();
            let hint = match status.as_u16() {
                403 => format!(": add {host}:{port} to the proxy's --allow list"),
                400 => ": the URL needs ?address=host:port (or the proxy an --upstream)".into(),
                _ => String::new(),
            };
            format!(
                "the WebSocket proxy refused the connection with HTTP {status} ({}){hint}",
                body.trim()
            )
        }
        other => format!("the WebSocket handshake with the proxy failed: {other}"),
    };
    Error::new(Kind::Connect, message)
}

/// The URL without its query, fragment and user info (they may hold a token or password), for
/// error messages.
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

/// Escapes what would break the URL; hosts and IPv6 literals pass unchanged.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':' | b'[' | b']')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_template() {
        let c = WsConnector::proxy("ws://127.0.0.1:58080/v2");
        assert_eq!(
            c.url_for("127.0.0.1", 56432),
            "ws://127.0.0.1:58080/v2?address=127.0.0.1:56432"
        );
        assert_eq!(
            c.url_for("::1", 5432),
            "ws://127.0.0.1:58080/v2?address=[::1]:5432"
        );
        assert_eq!(
            c.url_for("a b&c", 1),
            "ws://127.0.0.1:58080/v2?address=a%20b%26c:1"
        );
        let c = WsConnector::proxy("ws://p/v2?x=1");
        assert_eq!(c.url_for("h", 2), "ws://p/v2?x=1&address=h:2");
        let fixed = WsConnector::new("ws://p:1/");
        assert_eq!(fixed.url_for("h", 2), "ws://p:1/");
        // What the URLs become is a valid request.
        let v6 = WsConnector::proxy("ws://p/v2").url_for("::1", 5432);
        let request = v6.as_str().into_client_request().unwrap();
        assert_eq!(request.uri().query(), Some("address=[::1]:5432"));
    }
}
