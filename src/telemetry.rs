//! Logging setup (structured tracing, text or JSON) and the HTTP endpoint
//! that serves `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Renders one set of metrics in the Prometheus/OpenMetrics text format.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Joins several renderings into one exposition with a single `# EOF`.
pub fn exposition(sources: &[Render]) -> String {
    let mut out = String::new();
    for s in sources {
        out.extend(s().lines().filter(|l| *l != "# EOF").map(|l| format!("{l}\n")));
    }
    out.push_str("# EOF\n");
    out
}

/// Serves `/metrics` (all `sources`), `/healthz` and `/readyz` (ready once
/// `ready` is set). Connections are answered one at a time, in this task, so
/// the server leaves nothing running when it is dropped.
pub async fn serve(addr: String, sources: Vec<Render>, ready: Arc<AtomicBool>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    loop {
        let (mut sock, _) = listener.accept().await?;
        let answer = async {
            let mut buf = [0u8; 2048];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let path = std::str::from_utf8(&buf[..n]).ok().and_then(|r| r.split_whitespace().nth(1)).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", exposition(&sources)),
                "/healthz" => ("200 OK", "ok".to_string()),
                "/readyz" if ready.load(Ordering::Relaxed) => ("200 OK", "ok".to_string()),
                "/readyz" => ("503 Service Unavailable", "not ready".to_string()),
                _ => ("404 Not Found", "not found".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await
        };
        // A client that never sends or reads cannot hold the endpoint.
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), answer).await {
            tracing::debug!(error = %e, "metrics response failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_sources_make_one_exposition_with_one_eof() {
        let a: Render = Arc::new(|| "# HELP a x\na_total 1\n# EOF\n".to_string());
        let b: Render = Arc::new(|| "b_total 2\n# EOF\n".to_string());
        assert_eq!(exposition(&[a, b]), "# HELP a x\na_total 1\nb_total 2\n# EOF\n");
    }
}
