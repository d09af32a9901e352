//! The test Rekor (hack/rekor.sh): a real rekor-server on Trillian and
//! MariaDB, and its `rekor-cli`.

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
    let (dir, v) = super::component_env("TEST_REKOR_ENV", "rekor", "test-rekor");
    Rekor {
        url: v["REKOR_URL"].clone(),
        public_key: v["REKOR_PUBLIC_KEY"].clone().into(),
        cli: v["REKOR_CLI"].clone().into(),
        dir,
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

    /// Entries signed by this public key (PEM file): what one test's own
    /// key pair logged, whatever other tests log at the same time. A scan
    /// of the whole log, as rekor v1 indexes `intoto` entries by subject
    /// but not by key.
    pub async fn entries_by_key(&self, public_key: &std::path::Path) -> usize {
        let ours: String = std::fs::read_to_string(public_key).unwrap().split_whitespace().collect();
        let mut n = 0;
        for index in 0..self.tree_size().await {
            let url = format!("{}/api/v1/log/entries?logIndex={index}", self.url);
            let reply: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            let entry = reply.as_object().and_then(|o| o.values().next()).unwrap();
            let body = decode(entry["body"].as_str().unwrap());
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let spec = &body["spec"];
            let keys = [
                &spec["signature"]["publicKey"]["content"],
                &spec["content"]["envelope"]["signatures"][0]["publicKey"],
            ];
            let pem = keys.iter().find_map(|k| k.as_str()).map(|k| String::from_utf8(decode(k)).unwrap());
            if pem.is_some_and(|p| p.split_whitespace().collect::<String>() == ours) {
                n += 1;
            }
        }
        n
    }

    /// Waits until `public_key` has signed `n` entries, then checks that a
    /// moment later there are still exactly `n` (no late duplicate).
    pub async fn expect_entries_by_key(&self, public_key: &std::path::Path, n: usize, what: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.entries_by_key(public_key).await < n {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {n} entries: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(self.entries_by_key(public_key).await, n, "{what}");
    }

    /// Entries in the log now (`GET /api/v1/log`).
    pub async fn tree_size(&self) -> u64 {
        let info: serde_json::Value =
            reqwest::get(format!("{}/api/v1/log", self.url)).await.unwrap().json().await.unwrap();
        info["treeSize"].as_u64().unwrap()
    }
}

fn decode(b64: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
}
