//! One relayed connection, step by step:
//!
//! 1. the HTTP upgrade, with the upstream chosen in the handshake callback so that a refused
//!    request is answered (403/400) before any upgrade;
//! 2. the TCP connect to the upstream (`TCP_NODELAY`, bounded by `connect_timeout`);
//! 3. the relay: two pumps run concurrently, each awaiting its write before its next read;
//! 4. the close, chosen by whichever pump (or the shutdown) ended first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::proxy::ProxyConfig;
use crate::proxy::allow::{Refusal, Upstream, choose_upstream};
use crate::proxy::report::ConnectionReport;

/// How long a client may take to send its upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a close handshake (or an error response) may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The same during a shutdown: well within the server's grace, so every connection still
/// logs its line (an idle client only answers the close when it next reads).
const SHUTDOWN_CLOSE_GRACE: Duration = Duration::from_millis(500);

/// The largest upstream read, hence the largest frame sent to the client.
const READ_CHUNK: usize = 64 * 1024;

type Ws<'a> = WebSocketStream<&'a mut TcpStream>;

/// Why the client → upstream pump stopped.
enum UpEnd {
    ClientClosed(Option<u16>),
    ClientEof,
    ClientError(WsError),
    TextFrame,
    UpstreamWriteFailed(std::io::Error),
}

/// Why the upstream → client pump stopped.
enum DownEnd {
    UpstreamEof,
    UpstreamError(std::io::Error),
    ClientError(WsError),
}

enum Ending {
    Up(UpEnd),
    Down(DownEnd),
    Shutdown,
}

/// Relays one accepted connection to its end and says how it went.
pub(crate) async fn handle(
    mut stream: TcpStream,
    client: SocketAddr,
    config: Arc<ProxyConfig>,
    mut stopped: watch::Receiver<bool>,
) -> ConnectionReport {
    let started = Instant::now();
    let mut report = ConnectionReport {
        client,
        upstream: None,
        bytes_up: 0,
        bytes_down: 0,
        duration_ms: 0,
        end: "",
        detail: None,
    };
    let _ = stream.set_nodelay(true);
    let (end, detail) = relay(&mut stream, &config, &mut stopped, &mut report).await;
    report.end = end;
    report.detail = detail;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

async fn relay(
    stream: &mut TcpStream,
    config: &ProxyConfig,
    stopped: &mut watch::Receiver<bool>,
    report: &mut ConnectionReport,
) -> (&'static str, Option<String>) {
    // 1. The upgrade; the callback decides the upstream before answering.
    let mut decision: Option<Result<Upstream, Refusal>> = None;
    #[allow(clippy::result_large_err)] // the signature tungstenite's `Callback` requires
    let callback = |request: &Request, response: Response| {
        let choice = choose_upstream(
            request.uri().query(),
            config.fixed_upstream(),
            config.allow(),
        );
        let answer = match &choice {
            Ok(_) => Ok(response),
            Err(refusal) => Err(refusal_response(refusal)),
        };
        decision = Some(choice);
        answer
    };
    let ws_config = websocket_config(config.max_message_size);
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(&mut *stream, callback, Some(ws_config)),
    );
    let handshake = tokio::select! {
        result = handshake => result,
        () = shutdown(stopped) => return ("shutdown", Some("during the handshake".into())),
    };
    report.upstream = match &decision {
        Some(Ok(upstream)) | Some(Err(Refusal::NotAllowed(upstream))) => Some(upstream.to_string()),
        _ => None,
    };
    let ws = match handshake {
        Err(_) => return ("handshake-timeout", None),
        Ok(Err(WsError::Http(response))) => {
            return (
                "refused",
                Some(format!("HTTP {}", response.status().as_u16())),
            );
        }
        Ok(Err(WsError::Protocol(problem))) => {
            let not_an_upgrade = matches!(
                problem,
                ProtocolError::WrongHttpMethod
                    | ProtocolError::MissingConnectionUpgradeHeader
                    | ProtocolError::MissingUpgradeWebSocketHeader
            );
            answer_bad_request(stream, not_an_upgrade).await;
            return ("bad-request", Some(problem.to_string()));
        }
        Ok(Err(e)) => return ("handshake-error", Some(e.to_string())),
        Ok(Ok(ws)) => ws,
    };
    let Some(Ok(upstream)) = decision else {
        return ("handshake-error", Some("no upstream decision".into()));
    };
    let (mut ws_tx, mut ws_rx) = ws.split();

    // 2. The upstream connection.
    let connect = tokio::time::timeout(
        config.connect_timeout,
        TcpStream::connect((upstream.host(), upstream.port())),
    );
    let connected = tokio::select! {
        result = connect => result,
        () = shutdown(stopped) => {
            let (code, reason) = (CloseCode::Away, "proxy shutting down");
            close(&mut ws_tx, &mut ws_rx, code, reason, SHUTDOWN_CLOSE_GRACE).await;
            return ("shutdown", Some("while connecting upstream".into()));
        }
    };
    let failure = match connected {
        Ok(Ok(upstream_stream)) => Ok(upstream_stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {}s",
            config.connect_timeout.as_secs_f64()
        )),
    };
    let upstream_stream = match failure {
        Ok(s) => s,
        Err(detail) => {
            let (code, reason) = (CloseCode::Error, "upstream unreachable");
            close(&mut ws_tx, &mut ws_rx, code, reason, CLOSE_GRACE).await;
            return ("upstream-unreachable", Some(detail));
        }
    };
    let _ = upstream_stream.set_nodelay(true);
    let (mut tcp_rx, mut tcp_tx) = upstream_stream.into_split();

    // 3. The relay.
    let up_bytes = AtomicU64::new(0);
    let down_bytes = AtomicU64::new(0);
    let chunk = READ_CHUNK.min(config.max_message_size);
    let ending = tokio::select! {
        end = pump_up(&mut ws_rx, &mut tcp_tx, &up_bytes) => Ending::Up(end),
        end = pump_down(&mut tcp_rx, &mut ws_tx, &down_bytes, chunk) => Ending::Down(end),
        () = shutdown(stopped) => Ending::Shutdown,
    };
    report.bytes_up = up_bytes.load(Ordering::Relaxed);
    report.bytes_down = down_bytes.load(Ordering::Relaxed);

    // 4. The close.
    let plan = plan_close(ending);
    if plan.shutdown_upstream {
        let _ = tcp_tx.shutdown().await;
    }
    match plan.close {
        Closing::Drop => {}
        // tungstenite queued the reply to the client's close frame: flush it.
        Closing::Reply => {
            let _ = tokio::time::timeout(CLOSE_GRACE, ws_tx.close()).await;
        }
        Closing::Send(code, reason, grace) => {
            close(&mut ws_tx, &mut ws_rx, code, reason, grace).await;
        }
    }
    (plan.end, plan.detail)
}

/// How a connection is wound down once the relay stopped.
#[derive(Debug, PartialEq)]
struct ClosePlan {
    /// The log's `end=` token.
    end: &'static str,
    detail: Option<String>,
    /// Send FIN upstream (when the client side ended, so the server sees EOF).
    shutdown_upstream: bool,
    close: Closing,
}

#[derive(Debug, PartialEq)]
enum Closing {
    /// The WebSocket is gone: just drop it.
    Drop,
    /// Answer the client's close frame.
    Reply,
    /// Send this close frame and wait (at most this long) for the client's answer.
    Send(CloseCode, &'static str, Duration),
}

fn plan_close(ending: Ending) -> ClosePlan {
    let plan = |end, detail, shutdown_upstream, close| ClosePlan {
        end,
        detail,
        shutdown_upstream,
        close,
    };
    let send = |code, reason| Closing::Send(code, reason, CLOSE_GRACE);
    match ending {
        Ending::Up(UpEnd::ClientClosed(code)) => plan(
            "client-close",
            code.map(|c| format!("code {c}")),
            true,
            Closing::Reply,
        ),
        Ending::Up(UpEnd::ClientEof) => plan("client-eof", None, true, Closing::Drop),
        Ending::Up(UpEnd::ClientError(WsError::Capacity(e))) => plan(
            "too-big",
            Some(e.to_string()),
            true,
            send(CloseCode::Size, "message too big"),
        ),
        Ending::Up(UpEnd::ClientError(e @ WsError::Protocol(_))) => plan(
            "client-error",
            Some(e.to_string()),
            true,
            send(CloseCode::Protocol, "protocol error"),
        ),
        Ending::Up(UpEnd::ClientError(e)) | Ending::Down(DownEnd::ClientError(e)) => {
            plan("client-error", Some(e.to_string()), true, Closing::Drop)
        }
        Ending::Up(UpEnd::TextFrame) => plan(
            "text-frame",
            None,
            true,
            send(CloseCode::Unsupported, "binary frames only"),
        ),
        Ending::Up(UpEnd::UpstreamWriteFailed(e)) => plan(
            "upstream-error",
            Some(e.to_string()),
            false,
            send(CloseCode::Error, "upstream write failed"),
        ),
        Ending::Down(DownEnd::UpstreamEof) => plan(
            "upstream-eof",
            None,
            false,
            send(CloseCode::Normal, "upstream closed"),
        ),
        Ending::Down(DownEnd::UpstreamError(e)) => plan(
            "upstream-error",
            Some(e.to_string()),
            false,
            send(CloseCode::Error, "upstream error"),
        ),
        Ending::Shutdown => plan(
            "shutdown",
            None,
            true,
            Closing::Send(CloseCode::Away, "proxy shutting down", SHUTDOWN_CLOSE_GRACE),
        ),
    }
}

/// Client → upstream: each binary frame is written to TCP in full before the next is read.
async fn pump_up(
    ws_rx: &mut SplitStream<Ws<'_>>,
    tcp_tx: &mut OwnedWriteHalf,
    count: &AtomicU64,
) -> UpEnd {
    loop {
        match ws_rx.next().await {
            Some(Ok(Message::Binary(data))) => {
                if let Err(e) = tcp_tx.write_all(&data).await {
                    return UpEnd::UpstreamWriteFailed(e);
                }
                count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            // tungstenite queues the pong and sends it with the next read or write.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(_))) => return UpEnd::TextFrame,
            Some(Ok(Message::Close(frame))) => {
                return UpEnd::ClientClosed(frame.map(|f| u16::from(f.code)));
            }
            // The client vanished without a close frame (a crash, a killed tab).
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) | None => {
                return UpEnd::ClientEof;
            }
            Some(Err(e)) => return UpEnd::ClientError(e),
        }
    }
}

/// Upstream → client: each TCP read becomes one binary frame, flushed before the next read.
async fn pump_down(
    tcp_rx: &mut OwnedReadHalf,
    ws_tx: &mut SplitSink<Ws<'_>, Message>,
    count: &AtomicU64,
    chunk: usize,
) -> DownEnd {
    let mut buf = vec![0u8; chunk];
    loop {
        match tcp_rx.read(&mut buf).await {
            Ok(0) => return DownEnd::UpstreamEof,
            Ok(n) => {
                let frame = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                if let Err(e) = ws_tx.send(frame).await {
                    return DownEnd::ClientError(e);
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => return DownEnd::UpstreamError(e),
        }
    }
}

/// Sends a close frame, then waits (bounded) for the client's reply, discarding frames still
/// in flight: closing the socket with unread input would reset it and could destroy the
/// close frame before the client reads it.
async fn close(
    ws_tx: &mut SplitSink<Ws<'_>, Message>,
    ws_rx: &mut SplitStream<Ws<'_>>,
    code: CloseCode,
    reason: &'static str,
    grace: Duration,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(grace, async {
        if ws_tx.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(_)) = ws_rx.next().await {}
        }
    })
    .await;
}

/// Completes when the proxy begins shutting down (or the server is gone).
async fn shutdown(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    let write_buffer = 128 * 1024;
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        .write_buffer_size(write_buffer)
        .max_write_buffer_size(2 * (write_buffer + READ_CHUNK))
}

/// The answer to a refused request: status, a short text body, and `Connection: close`.
fn refusal_response(refusal: &Refusal) -> ErrorResponse {
    let body = refusal.body();
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers a request that is not a valid WebSocket upgrade (tungstenite drops those
/// silently): 426 when the upgrade headers are missing, 400 otherwise.
async fn answer_bad_request(stream: &mut TcpStream, not_an_upgrade: bool) {
    let (status, extra) = if not_an_upgrade {
        ("426 Upgrade Required", "Upgrade: websocket\r\n")
    } else {
        ("400 Bad Request", "")
    };
    let body = "edgepg-proxy: this is a WebSocket proxy for Postgres: \
                open ws://HOST:PORT/v2?address=HOST:PORT\n";
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_closes_the_documented_way() {
        let p = plan_close(Ending::Down(DownEnd::UpstreamEof));
        assert_eq!(
            (p.end, p.shutdown_upstream, p.close),
            (
                "upstream-eof",
                false,
                Closing::Send(CloseCode::Normal, "upstream closed", CLOSE_GRACE)
            )
        );
        let p = plan_close(Ending::Up(UpEnd::TextFrame));
        assert!(p.shutdown_upstream);
        assert!(matches!(p.close, Closing::Send(CloseCode::Unsupported, ..)));
        let p = plan_close(Ending::Up(UpEnd::ClientClosed(Some(1000))));
        assert_eq!(
            (p.end, p.detail.as_deref(), p.shutdown_upstream, p.close),
            ("client-close", Some("code 1000"), true, Closing::Reply)
        );
        let p = plan_close(Ending::Up(UpEnd::ClientEof));
        assert_eq!((p.shutdown_upstream, p.close), (true, Closing::Drop));
        let p = plan_close(Ending::Shutdown);
        assert!(p.shutdown_upstream);
        assert_eq!(
            p.close,
            Closing::Send(CloseCode::Away, "proxy shutting down", SHUTDOWN_CLOSE_GRACE)
        );
        let p = plan_close(Ending::Down(DownEnd::UpstreamError(std::io::Error::other(
            "x",
        ))));
        assert!(matches!(p.close, Closing::Send(CloseCode::Error, ..)));
    }

    #[test]
    fn refusals_carry_status_length_and_connection_close() {
        let r = refusal_response(&Refusal::NoUpstream);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.body().clone().unwrap_or_default();
        assert_eq!(
            r.headers()[header::CONTENT_LENGTH],
            body.len().to_string().as_str()
        );
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = refusal_response(&Refusal::NotAllowed(Upstream::parse("h:1").unwrap()));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(!r.body().clone().unwrap_or_default().contains("h:1"));
    }
}
