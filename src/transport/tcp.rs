//! Native tokio TCP transport and runtime (feature `native`): for tests, benchmarks and tools,
//! not the edge path. TLS is not offered here (`sslmode=require` fails with a clear error).

use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Kind, Result};
use crate::proto::TransportSecurity;
use crate::transport::{Connector, Runtime, Transport};

/// Connects with tokio TCP, `TCP_NODELAY` on.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

/// A tokio TCP stream.
pub struct TcpTransport {
    stream: TcpStream,
}

/// The tokio runtime services: wall clock, `tokio::time::sleep`, OS randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

impl TokioRuntime {
    /// A shared handle, as the pool takes it.
    pub fn shared() -> Rc<dyn Runtime> {
        Rc::new(TokioRuntime)
    }
}

impl Connector for TcpConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let stream = TcpStream::connect((host, port)).await.map_err(|e| {
                Error::new(
                    Kind::Connect,
                    format!("could not connect to {host}:{port}: {e}"),
                )
            })?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(TcpTransport { stream }) as Box<dyn Transport>)
        })
    }
}

impl Transport for TcpTransport {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.stream
                .write_all(data)
                .await
                .map_err(|e| Error::closed(format!("writing to the server failed: {e}")))
        })
    }

    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let start = buf.len();
            buf.resize(start + 64 * 1024, 0);
            let result = self.stream.read(&mut buf[start..]).await;
            match result {
                Ok(n) => {
                    buf.truncate(start + n);
                    Ok(n)
                }
                Err(e) => {
                    buf.truncate(start);
                    Err(Error::closed(format!(
                        "reading from the server failed: {e}"
                    )))
                }
            }
        })
    }

    fn try_read(&mut self, buf: &mut Vec<u8>) -> Option<Result<usize>> {
        let start = buf.len();
        buf.resize(start + 64 * 1024, 0);
        let result = self.stream.try_read(&mut buf[start..]);
        match result {
            Ok(n) => {
                buf.truncate(start + n);
                Some(Ok(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                buf.truncate(start);
                None
            }
            Err(e) => {
                buf.truncate(start);
                Some(Err(Error::closed(format!(
                    "the connection failed while idle: {e}"
                ))))
            }
        }
    }

    fn start_tls(&mut self) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(Error::new(
                Kind::Tls,
                "the native TCP transport does not do TLS",
            ))
        })
    }

    fn security(&self) -> TransportSecurity {
        TransportSecurity::Plain
    }

    fn close(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.stream.shutdown().await;
        })
    }
}

impl Runtime for TokioRuntime {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    }

    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(Duration::from_millis(ms)))
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        tokio::task::spawn_local(task);
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|e| {
            Error::new(
                Kind::Connect,
                format!("no secure randomness available: {e}"),
            )
        })
    }
}
