//! The test Rekor (hack/rekor.sh): a real rekor-server on Trillian and
//! MariaDB, and its `rekor-cli`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// Where the log listens, its public key and its CLI.
#[derive(Debug, Clone)]
pub struct Rekor {
    pub url: String,
    /// PEM file of the log's key (for SIGSTORE_REKOR_PUBLIC_KEY).
    pub public_key: PathBuf,
    pub cli: PathBuf,
    /// The state folder, for `hack/rekor.sh stop-server|start-server`.
    pub dir: PathBuf,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/rekor.sh")
}

/// The running log: TEST_REKOR_ENV (a file written by `hack/rekor.sh up`),
/// else one started by that script under target/.
pub fn rekor() -> Rekor {
    let path = match std::env::var("TEST_REKOR_ENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-rekor");
            let status = Command::new("bash")
                .arg(script())
                .args(["up", dir.to_str().unwrap()])
                .status()
                .expect("run hack/rekor.sh");
            assert!(status.success(), "hack/rekor.sh up failed");
            dir.join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    Rekor {
        url: v["REKOR_URL"].into(),
        public_key: v["REKOR_PUBLIC_KEY"].into(),
        cli: v["REKOR_CLI"].into(),
        dir: path.parent().unwrap().to_path_buf(),
    }
}

impl Rekor {
    /// `rekor-cli <args> --rekor_server <url>`: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.cli)
            .args(args)
            .args(["--rekor_server", &self.url])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.cli.display()));
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// UUIDs `rekor-cli search --sha <sha>` lists.
    pub fn search(&self, sha: &str) -> Vec<String> {
        self.search_by(&["search", "--sha", sha])
    }

    fn search_by(&self, args: &[&str]) -> Vec<String> {
        let (ok, out, err) = self.cli(args);
        assert!(ok || err.contains("no matching entries"), "rekor-cli search: {out}{err}");
        out.lines()
            .map(str::trim)
            .filter(|l| l.len() >= 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
            .map(String::from)
            .collect()
    }

    /// `hack/rekor.sh <cmd>` on this log (stop-server, start-server).
    pub fn script(&self, cmd: &str) {
        let status = Command::new("bash").arg(script()).args([cmd, self.dir.to_str().unwrap()]).status().unwrap();
        assert!(status.success(), "hack/rekor.sh {cmd} failed");
    }

    /// Env for cosign to trust this log.
    pub fn cosign_env(&self) -> Vec<(&'static str, String)> {
        vec![("SIGSTORE_REKOR_PUBLIC_KEY", self.public_key.display().to_string())]
    }

    /// Entries in the log now (`GET /api/v1/log`).
    pub async fn tree_size(&self) -> u64 {
        let info: serde_json::Value =
            reqwest::get(format!("{}/api/v1/log", self.url)).await.unwrap().json().await.unwrap();
        info["treeSize"].as_u64().unwrap()
    }
}
