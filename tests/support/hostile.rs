//! A small hostile HTTP server for the bad-input tests: it answers every
//! request with whatever a test scripts (junk JSON, huge or dripping bodies,
//! 500 storms, garbage tokens, forged Rekor entries) and records what it was
//! asked. It plays a misbehaving registry, token endpoint or Rekor; the
//! real components are tested elsewhere.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How a reply's body is sent.
#[derive(Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `n` bytes of `byte`, sent fast, with no Content-Length (chunked by close).
    Huge {
        byte: u8,
        n: usize,
    },
    /// One byte every `every`, `n` times (a slow drip).
    Drip {
        every: Duration,
        n: usize,
    },
}

/// One scripted reply.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Bytes(body.into()),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn body(mut self, b: Body) -> Self {
        self.body = b;
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// The running server; stops when dropped.
pub struct Hostile {
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Serves `handler` on a free loopback port (plain http).
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let (log, h) = (seen.clone(), handler.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                let (log, h) = (log.clone(), h.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, log, h).await;
                });
            }
        });
        Self { addr, seen, task }
    }

    /// Requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose path contains `part`.
    pub fn count(&self, part: &str) -> usize {
        self.seen().iter().filter(|s| s.path.contains(part)).count()
    }
}

async fn serve(mut sock: tokio::net::TcpStream, log: Arc<Mutex<Vec<Seen>>>, h: Handler) -> std::io::Result<()> {
    loop {
        // Headers, then a body of Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if sock.read(&mut byte).await? == 0 {
                return Ok(());
            }
            // A TLS ClientHello: this is a plain-http server, as a real one would say by hanging up.
            if buf.is_empty() && byte[0] == 0x16 {
                return Ok(());
            }
            buf.push(byte[0]);
            if buf.len() > 64 << 10 {
                return Ok(());
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let mut lines = head.lines();
        let first = lines.next().unwrap_or_default().to_string();
        let mut parts = first.split_whitespace();
        let (method, path) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize =
            headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0u8; len];
        sock.read_exact(&mut body).await?;
        let seen = Seen { method, path, headers, body };
        log.lock().unwrap().push(seen.clone());
        let reply = h(&seen);
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        match &reply.body {
            Body::Bytes(b) => {
                out.push_str(&format!("content-length: {}\r\n\r\n", b.len()));
                sock.write_all(out.as_bytes()).await?;
                sock.write_all(b).await?;
            }
            Body::Huge { byte, n } => {
                out.push_str("connection: close\r\n\r\n");
                sock.write_all(out.as_bytes()).await?;
                let chunk = vec![*byte; 64 << 10];
                let mut left = *n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    sock.write_all(&chunk[..k]).await?;
                    left -= k;
                }
                return Ok(());
            }
            Body::Drip { every, n } => {
                out.push_str(&format!("content-length: {n}\r\n\r\n"));
                sock.write_all(out.as_bytes()).await?;
                for _ in 0..*n {
                    tokio::time::sleep(*every).await;
                    sock.write_all(b" ").await?;
                }
            }
        }
    }
}
