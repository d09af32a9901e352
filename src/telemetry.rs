//! Logging setup (structured tracing, text or JSON) and the HTTP endpoint
//! that serves `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
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

/// What `/healthz` and `/readyz` answer: live (the process can work: its
/// workers and watches are alive) and ready (it has what it needs to do its
/// work, e.g. a valid chains-config), each with the reason when not.
#[derive(Debug, Default)]
pub struct Probes {
    broken: parking_lot::Mutex<Option<String>>,
    unready: parking_lot::Mutex<Option<String>>,
}

impl Probes {
    /// Live and ready.
    pub fn ok() -> Arc<Self> {
        Arc::default()
    }

    /// Live, not yet ready for `why`.
    pub fn starting(why: &str) -> Arc<Self> {
        let p = Self::default();
        *p.unready.lock() = Some(why.to_string());
        Arc::new(p)
    }

    /// Not live any more (the kubelet restarts the container).
    pub fn set_broken(&self, why: impl Into<String>) {
        *self.broken.lock() = Some(why.into());
    }

    /// Ready (`None`) or not (`Some(why)`).
    pub fn set_unready(&self, why: Option<String>) {
        *self.unready.lock() = why;
    }

    /// `Err(why)` when not live.
    pub fn live(&self) -> Result<(), String> {
        self.broken.lock().clone().map_or(Ok(()), Err)
    }

    /// `Err(why)` when not live or not ready.
    pub fn ready(&self) -> Result<(), String> {
        self.live()?;
        self.unready.lock().clone().map_or(Ok(()), Err)
    }
}

/// Connections answered at once; more wait for a free slot.
const MAX_CONNECTIONS: usize = 32;
/// Bytes of a request read.
const REQUEST_MAX: usize = 2048;

/// Serves `/metrics` (all `sources`), `/healthz` and `/readyz` (see
/// [`Probes`]). Connections are answered concurrently, up to a bound, each
/// within a deadline; an `accept` error is logged and the server goes on.
/// Everything it starts ends when the future is dropped.
pub async fn serve(addr: String, sources: Vec<Render>, probes: Arc<Probes>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let sources = Arc::new(sources);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let (sock, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, keep serving.
                tracing::warn!(addr = %addr, error = %e, "accepting a metrics/probe connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { continue };
        let (sources, probes) = (sources.clone(), probes.clone());
        conns.spawn(async move {
            let _permit = permit;
            // A client that never sends or reads cannot hold a slot.
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), answer(sock, &sources, &probes)).await {
                tracing::debug!(error = %e, "metrics response failed");
            }
        });
    }
}

async fn answer(mut sock: tokio::net::TcpStream, sources: &[Render], probes: &Probes) -> std::io::Result<()> {
    let mut buf = [0u8; REQUEST_MAX];
    let n = sock.read(&mut buf).await.unwrap_or(0);
    let path = std::str::from_utf8(&buf[..n]).ok().and_then(|r| r.split_whitespace().nth(1)).unwrap_or("/");
    let probe = |r: Result<(), String>| match r {
        Ok(()) => ("200 OK", "ok".to_string()),
        Err(why) => ("503 Service Unavailable", why),
    };
    let (status, body) = match path {
        "/metrics" => ("200 OK", exposition(sources)),
        "/healthz" => probe(probes.live()),
        "/readyz" => probe(probes.ready()),
        _ => ("404 Not Found", "not found".to_string()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await
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
