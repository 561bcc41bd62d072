//! The transport for Rust Workers (workers-rs, feature `workers`): `worker::Socket` from
//! `connect()`, opened with `secureTransport: "starttls"` so `sslmode` can upgrade it.
//!
//! ```ignore
//! use edgepg::transport::workers::WorkersConnector;
//! let pool = edgepg::Pool::shared(config, options, Rc::new(WorkersConnector), Rc::new(JsRuntime), "workers");
//! ```

use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use worker::{SecureTransport, Socket};

use crate::error::{Error, Kind, Result};
use crate::proto::TransportSecurity;
use crate::transport::{Connector, Transport};

/// Opens `worker::Socket`s.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkersConnector;

/// A Workers TCP socket.
pub struct WorkersSocket {
    socket: Option<Socket>,
}

impl Connector for WorkersConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Box<dyn Transport>>> {
        Box::pin(async move {
            let refused = |e: worker::Error| {
                Error::new(
                    Kind::Connect,
                    format!("could not connect to {host}:{port}: {e}"),
                )
            };
            let socket = Socket::builder()
                .secure_transport(SecureTransport::StartTls)
                .connect(host, port)
                .map_err(refused)?;
            socket.opened().await.map_err(refused)?;
            Ok(Box::new(WorkersSocket {
                socket: Some(socket),
            }) as Box<dyn Transport>)
        })
    }
}

impl WorkersSocket {
    fn socket(&mut self) -> Result<&mut Socket> {
        self.socket
            .as_mut()
            .ok_or_else(|| Error::closed("the socket is closed"))
    }
}

impl Transport for WorkersSocket {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // worker::Socket copies each chunk into a JS-owned Uint8Array before writing.
            let socket = self.socket()?;
            socket
                .write_all(data)
                .await
                .map_err(|e| io_error("writing to the server", &e))?;
            socket
                .flush()
                .await
                .map_err(|e| io_error("writing to the server", &e))
        })
    }

    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> LocalBoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let start = buf.len();
            buf.resize(start + 64 * 1024, 0);
            let result = match self.socket.as_mut() {
                Some(s) => s.read(&mut buf[start..]).await,
                None => Ok(0),
            };
            match result {
                Ok(n) => {
                    buf.truncate(start + n);
                    Ok(n)
                }
                Err(e) => {
                    buf.truncate(start);
                    Err(io_error("reading from the server", &e))
                }
            }
        })
    }

    fn start_tls(&mut self) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let socket = self
                .socket
                .take()
                .ok_or_else(|| Error::closed("the socket is closed"))?;
            let secure = socket.start_tls();
            secure
                .opened()
                .await
                .map_err(|e| Error::new(Kind::Tls, format!("the TLS handshake failed: {e}")))?;
            self.socket = Some(secure);
            Ok(())
        })
    }

    fn security(&self) -> TransportSecurity {
        TransportSecurity::StartTls
    }

    fn close(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut s) = self.socket.take() {
                let _ = s.close().await;
            }
        })
    }
}

/// A socket failure (see `transport::io_failure`).
fn io_error(doing: &str, e: &std::io::Error) -> Error {
    crate::transport::io_failure(doing, &e.to_string())
}
