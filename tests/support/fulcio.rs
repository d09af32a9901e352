//! The test Fulcio (hack/fulcio.sh): a real Fulcio with an ephemeral CA that
//! trusts the test API server as its OIDC issuer, and the test SPIRE's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Fulcio listens, its root certificate and the issuer it trusts.
#[derive(Debug, Clone)]
pub struct Fulcio {
    pub url: String,
    pub root: PathBuf,
    pub issuer: String,
    /// The SPIRE issuer it trusts too (`spiffe` type), if any.
    pub spiffe_issuer: Option<String>,
}

/// The running Fulcio: TEST_FULCIO_ENV (a file written by `hack/fulcio.sh
/// up`), else one started by that script under target/ for the cluster in
/// `cluster_dir` and the test SPIRE (started too). `None` when that cluster is not a hack/cluster.sh one
/// (an external TEST_KUBECONFIG: its issuer is not ours to trust).
pub fn fulcio(cluster_dir: &Path) -> Option<Fulcio> {
    let path = match std::env::var("TEST_FULCIO_ENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            if !cluster_dir.join("issuer").exists() {
                return None;
            }
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-fulcio");
            let spire = super::spire::spire().dir;
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/fulcio.sh");
            let status = Command::new("bash")
                .arg(script)
                .args(["up", dir.to_str().unwrap(), cluster_dir.to_str().unwrap(), spire.to_str().unwrap()])
                .status()
                .expect("run hack/fulcio.sh");
            assert!(status.success(), "hack/fulcio.sh up failed");
            dir.join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    Some(Fulcio {
        url: v["FULCIO_URL"].into(),
        root: v["FULCIO_ROOT"].into(),
        issuer: v["FULCIO_ISSUER"].into(),
        spiffe_issuer: v.get("FULCIO_SPIFFE_ISSUER").filter(|i| !i.is_empty()).map(|i| i.to_string()),
    })
}

impl Fulcio {
    /// The certificate identity Fulcio gives a ServiceAccount's token.
    pub fn identity(ns: &str, sa: &str) -> String {
        format!("https://kubernetes.io/namespaces/{ns}/serviceaccounts/{sa}")
    }
}
