//! Running the built `edgepg-proxy` for the integration tests: spawn it on a free port,
//! watch its log, stop it; raw HTTP probes; connections through it.
//!
//! Included with `#[path = "common/proxy.rs"] mod proxy_support;` by a test crate that
//! declares `mod common;` (the stack's URLs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgepg::transport::websocket_native::WsConnector;

/// A proxy process; killed when dropped.
pub struct ProxyProcess {
    child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProxyProcess {
    /// Starts the proxy on a free port (`--listen 127.0.0.1:0`) with `args` and waits until
    /// it listens.
    pub fn spawn(args: &[String]) -> ProxyProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgepg-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("edgepg-proxy starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = addr_tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "edgepg-proxy {args:?} did not report listening; log: {:?}",
                    log.lock().unwrap()
                );
            }
        };
        ProxyProcess { child, addr, log }
    }

    /// Allows the stack's PgBouncer and Postgres, plus `extra` arguments.
    pub fn for_stack(extra: &[&str]) -> ProxyProcess {
        let mut args = vec![
            "--allow".to_string(),
            stack_upstream("EDGEPG_URL_BOUNCER"),
            "--allow".to_string(),
            stack_upstream("EDGEPG_URL_SCRAM"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        ProxyProcess::spawn(&args)
    }

    /// `ws://ADDR/v2`, the base the `?address=` convention is appended to.
    pub fn ws_base(&self) -> String {
        format!("ws://{}/v2", self.addr)
    }

    /// A connector naming the upstream with `?address=host:port`.
    pub fn connector(&self) -> WsConnector {
        WsConnector::proxy(&self.ws_base())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for `count` log lines containing `needle`.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {count} log lines with {needle:?}; log: {:#?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. "TERM") and waits at most `within` for the exit.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy did not exit within {within:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `host:port` of a stack URL (`EDGEPG_URL_*`); a missing stack fails the test.
pub fn stack_upstream(var: &str) -> String {
    let config = crate::common::config(var);
    format!("{}:{}", config.host, config.port)
}

/// A port on 127.0.0.1 nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Sends a WebSocket upgrade request for `path` (or a plain GET when `upgrade` is false) and
/// returns the whole response head and body the proxy sent before closing (at most 4 KiB).
pub fn http_request(addr: &str, path: &str, upgrade: bool) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let upgrade_headers = if upgrade {
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{upgrade_headers}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while response.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        // A 101 keeps the connection open: the head is all there is to read.
        if response.starts_with(b"HTTP/1.1 101") && response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// The status line of [`http_request`]'s response.
pub fn status_line(addr: &str, path: &str) -> String {
    http_request(addr, path, true)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The `key=value` field of a proxy log line.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
}
