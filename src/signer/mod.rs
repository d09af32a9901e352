//! The signing loop. This release wires its command line and health
//! endpoints; signing itself comes in the next release.

use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// Settings of the signing loop (flags of `signer` and `run`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Only watch runs in these namespaces (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Folder holding x509.pem or cosign.key + cosign.password.
    #[arg(long, default_value = "/etc/signing-secrets")]
    pub signing_secrets_dir: PathBuf,
    /// Namespace holding chains-config (the signer's own).
    #[arg(long, env = "SYSTEM_NAMESPACE", default_value = "tekton-pipelines")]
    pub system_namespace: String,
    /// Concurrent signing workers.
    #[arg(long, default_value_t = 2)]
    pub threads_per_controller: u16,
    /// Client-side QPS limit towards the API server.
    #[arg(long, default_value_t = 50.0)]
    pub kube_api_qps: f64,
    /// Client-side burst towards the API server.
    #[arg(long, default_value_t = 50)]
    pub kube_api_burst: u32,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub probes_addr: String,
}

/// Runs the signing loop until the task is dropped.
pub async fn run(opts: Options) -> std::io::Result<()> {
    info!(
        namespaces = ?opts.namespaces,
        system_namespace = %opts.system_namespace,
        "signer started (signing is not implemented in this release)"
    );
    serve_probes(&opts.probes_addr).await
}

/// Answers 200 ok to any request: the process is alive and ready.
async fn serve_probes(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (mut sock, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            if let Err(e) = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await
            {
                warn!(error = %e, "probe response failed");
            }
        });
    }
}
