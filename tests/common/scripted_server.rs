//! A scripted fake Postgres server on 127.0.0.1 for the bad-input and stalled-peer tests: each
//! connection follows a list of `Step`s (answer the startup, wait for a message, send bytes,
//! stall, answer every Sync) and everything it receives is recorded; plus builders for the
//! backend messages it sends (the security tests' fake SCRAM servers use these too).
//!
//! Included with `#[path = "common/scripted_server.rs"] mod scripted_server;` by a test crate
//! that declares `mod common;` and the fuzz harness as `mod harness;` (its message encoders).
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use edgepg::proto::types::oid;
use edgepg::{Config, Pool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{at_most, pool};
use crate::harness;

/// One step of a fake server's script for a connection.
#[derive(Clone, Debug)]
pub enum Step {
    /// Reads the StartupMessage, answering an SSLRequest before it with this byte.
    Startup(u8),
    /// Reads client messages until one with this tag arrived.
    Until(u8),
    /// Writes these bytes.
    Send(Vec<u8>),
    /// Holds the socket open, reading and recording whatever arrives.
    Stall,
    /// Answers every Sync with these bytes until the client hangs up.
    AnswerEachSync(Vec<u8>),
}

/// A fake Postgres server on 127.0.0.1: each accepted connection runs `script(n)` (n counts
/// connections from 0) and everything it receives is recorded.
pub struct Fake {
    port: u16,
    received: Rc<RefCell<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    pub async fn start(script: impl Fn(usize) -> Vec<Step> + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Rc::new(RefCell::new(Vec::new()));
        let log = received.clone();
        let task = tokio::task::spawn_local(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                log.borrow_mut().push(Vec::new());
                let steps = script(n);
                let log = log.clone();
                tokio::task::spawn_local(serve(stream, steps, log, n));
                n += 1;
            }
        });
        Fake {
            port,
            received,
            task,
        }
    }

    pub fn url(&self, query: &str) -> Config {
        Config::parse(&format!(
            "postgres://fake:Fake-Secret-77@127.0.0.1:{}/db?{query}",
            self.port
        ))
        .unwrap()
    }

    /// Everything connection `n` sent.
    pub fn received_by(&self, n: usize) -> Vec<u8> {
        self.received.borrow()[n].clone()
    }

    /// Everything every connection sent, concatenated.
    pub fn all_received(&self) -> Vec<u8> {
        self.received.borrow().concat()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_more(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    log: &RefCell<Vec<Vec<u8>>>,
    n: usize,
) -> bool {
    let mut chunk = [0u8; 8192];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(k) => {
            buf.extend_from_slice(&chunk[..k]);
            log.borrow_mut()[n].extend_from_slice(&chunk[..k]);
            true
        }
    }
}

async fn serve(mut s: TcpStream, steps: Vec<Step>, log: Rc<RefCell<Vec<Vec<u8>>>>, n: usize) {
    let mut buf: Vec<u8> = Vec::new();
    for step in steps {
        match step {
            Step::Startup(answer) => loop {
                while buf.len() < 8 {
                    if !read_more(&mut s, &mut buf, &log, n).await {
                        return;
                    }
                }
                let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                while buf.len() < len {
                    if !read_more(&mut s, &mut buf, &log, n).await {
                        return;
                    }
                }
                let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                buf.drain(..len);
                if code == 80877103 {
                    let _ = s.write_all(&[answer]).await;
                    continue;
                }
                break;
            },
            Step::Until(tag) => loop {
                match take_message(&mut buf) {
                    Some(t) if t == tag => break,
                    Some(_) => {}
                    None => {
                        if !read_more(&mut s, &mut buf, &log, n).await {
                            return;
                        }
                    }
                }
            },
            Step::Send(bytes) => {
                if s.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Stall => {
                while read_more(&mut s, &mut buf, &log, n).await {}
                // Keep the socket until the test ends.
                std::future::pending::<()>().await;
            }
            Step::AnswerEachSync(answer) => loop {
                match take_message(&mut buf) {
                    Some(b'S') => {
                        if s.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                    Some(_) => {}
                    None => {
                        if !read_more(&mut s, &mut buf, &log, n).await {
                            return;
                        }
                    }
                }
            },
        }
    }
}

/// Removes the first complete (tagged) client message from `buf` and returns its tag.
fn take_message(buf: &mut Vec<u8>) -> Option<u8> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < len + 1 {
        return None;
    }
    let tag = buf[0];
    buf.drain(..len + 1);
    Some(tag)
}

pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    harness::message(tag, body)
}

pub fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    msg(b'R', &[&code.to_be_bytes()[..], extra].concat())
}

pub fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

/// ParseComplete, BindComplete, RowDescription(text column `c`), rows, CommandComplete, RFQ.
pub fn text_rows(rows: &[&[u8]], tag: &[u8]) -> Vec<u8> {
    let mut v = msg(b'1', &[]);
    v.extend(msg(b'2', &[]));
    v.extend(harness::row_description(&[(oid::TEXT, 0)]));
    for r in rows {
        let mut body = 1u16.to_be_bytes().to_vec();
        body.extend((r.len() as i32).to_be_bytes());
        body.extend(*r);
        v.extend(msg(b'D', &body));
    }
    v.extend(msg(b'C', &[tag, b"\0"].concat()));
    v.extend(ready());
    v
}

pub fn fake_pool(config: Config) -> Pool {
    pool(config, at_most(2))
}
