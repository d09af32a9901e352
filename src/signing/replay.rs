//! A loopback HTTP replayer for unit tests of the remote signers' HTTP
//! edges: it answers each request with what a handler returns (replies
//! shaped as the remote documents them) and records what was asked. A test
//! aid, not a server anything is said to be tested against.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request as the replayer saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub head: String,
    pub body: serde_json::Value,
    /// The body as text (form bodies).
    pub raw: String,
}

/// What answers each request: (status, JSON body).
pub type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// Serves `handler`'s replies on loopback; returns the base URL and what was asked.
pub async fn replay(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let split = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..split]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < split + 4 + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = serde_json::from_slice(&buf[split + 4..]).unwrap_or(serde_json::Value::Null);
                let raw = String::from_utf8_lossy(&buf[split + 4..]).to_string();
                let s = Seen { line: head.lines().next().unwrap_or_default().to_string(), head, body, raw };
                let (status, reply) = handler(&s);
                log.lock().push(s);
                let out = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = sock.write_all(out.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}
