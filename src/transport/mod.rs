//! Byte transports the driver pumps the protocol core through, and the runtime services
//! (clock, timer, randomness) it needs.
//!
//! Runtime capabilities come in from the entrypoint: the native build uses tokio TCP
//! ([`tcp`], feature `native`); wasm builds get their sockets from JavaScript (a WebSocket, a
//! Workers `connect()` socket or `node:net`), wrapped by the wasm surface.

#[cfg(feature = "native")]
pub mod tcp;
#[cfg(feature = "proxy")]
pub mod websocket_native;
#[cfg(all(feature = "workers", target_arch = "wasm32"))]
pub mod workers;

use futures_util::future::LocalBoxFuture;

use crate::error::Result;
use crate::proto::{KeyRequest, TransportSecurity};

/// A connected, ordered byte stream to the server (or to a proxy in front of it).
///
/// wasm is single-threaded: futures are not `Send`, and the trait is used as `dyn Transport`.
pub trait Transport {
    /// Writes all of `data` (one pipelined request is one call, hence one WebSocket frame).
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, Result<()>>;

    /// Appends the next bytes that arrive to `buf` and returns how many; 0 means the peer
    /// closed the stream.
    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, Result<usize>>;

    /// Bytes that already arrived, without waiting: `Some(Ok(n))` appended `n` bytes (0: the
    /// peer closed), `None` when nothing is known. Used on checkout to notice a connection the
    /// server closed while it sat idle, before writing to it.
    fn try_read(&mut self, buf: &mut Vec<u8>) -> Option<Result<usize>> {
        let _ = buf;
        None
    }

    /// Lets bytes that reached the host but not yet this transport arrive (one event-loop turn
    /// in JS hosts), so `try_read` can see a close that happened while the connection sat idle.
    fn settle(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Switches the stream to TLS (after the server accepted SSLRequest).
    fn start_tls(&mut self) -> LocalBoxFuture<'_, Result<()>>;

    /// What the transport offers for TLS.
    fn security(&self) -> TransportSecurity;

    /// Closes the stream; never fails.
    fn close(&mut self) -> LocalBoxFuture<'_, ()>;
}

/// Opens transports to a host and port.
pub trait Connector {
    /// Connects to `host:port` (a proxy connector maps this to its own URL).
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Box<dyn Transport>>>;
}

/// Clock, timer and randomness of the runtime the driver runs in.
pub trait Runtime {
    /// Milliseconds on a clock that keeps running while the process is suspended (wall clock),
    /// for deadlines and idle ages.
    fn now_ms(&self) -> u64;

    /// A future that completes after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()>;

    /// Like `sleep`, for background housekeeping (idle reaping): it must not keep the host
    /// process alive on its own (Node's `unref`).
    fn sleep_background(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        self.sleep(ms)
    }

    /// Runs `task` in the background on the current thread (`spawn_local`).
    fn spawn(&self, task: LocalBoxFuture<'static, ()>);

    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]) -> Result<()>;

    /// SCRAM's PBKDF2 (see [`KeyRequest`]). The default runs it here; a runtime with a native
    /// one (WebCrypto) overrides it: 4096 rounds of SHA-256 cost a cold wasm instance ~10 ms.
    fn pbkdf2(&self, request: KeyRequest) -> LocalBoxFuture<'static, [u8; 32]> {
        let salted = request.derive();
        Box::pin(async move { salted })
    }
}

/// A socket failure, from its message. Workers refuse I/O on a socket of another request before
/// sending anything; that becomes `Kind::Foreign`, which the pool handles without surfacing it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn io_failure(doing: &str, message: &str) -> crate::error::Error {
    use crate::error::{Error, Kind};
    if message.contains("on behalf of a different request") {
        Error::new(Kind::Foreign, "the socket belongs to another request")
    } else {
        Error::closed(format!("{doing} failed: {message}"))
    }
}
