//! The test Grafeas (hack/grafeas.sh): Grafeas's own v1 API implementation
//! (github.com/grafeas/grafeas go/v1/api) served in memory over its REST
//! gateway. The signers under test find it through `GRAFEAS_SERVER`.

use std::path::PathBuf;
use std::sync::Once;

static ENV: Once = Once::new();

/// The running server: its `host:port` and its hack/ folder (for restarts).
pub struct Grafeas {
    pub host: String,
    pub dir: PathBuf,
}

/// TEST_GRAFEAS_ENV (a file written by `hack/grafeas.sh up`), else one
/// started by that script under target/. Its `GRAFEAS_SERVER` becomes this
/// process's (for in-process signers).
pub fn grafeas() -> Grafeas {
    let (dir, v) = super::component_env("TEST_GRAFEAS_ENV", "grafeas", "test-grafeas");
    let host = v["GRAFEAS_SERVER"].clone();
    ENV.call_once(|| {
        // SAFETY: once, before this test's signer reads the environment.
        unsafe { std::env::set_var("GRAFEAS_SERVER", &host) };
    });
    Grafeas { host, dir }
}

impl Grafeas {
    /// GET `/v1/<path>` (JSON).
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let res = reqwest::get(format!("http://{}/v1/{path}", self.host)).await.expect("GET grafeas");
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// The occurrences under note `note` of `project`.
    pub async fn occurrences(&self, project: &str, note: &str) -> Vec<serde_json::Value> {
        let v = self.get(&format!("projects/{project}/notes/{note}/occurrences")).await;
        v["occurrences"].as_array().cloned().unwrap_or_default()
    }

    /// Restarts the server on its port, empty (as a server that lost its notes).
    pub fn restart(&self) {
        let port = self.host.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap();
        super::hack("grafeas", "stop", &self.dir, &[]);
        super::hack("grafeas", "up", &self.dir, &[("GRAFEAS_PORT", &port)]);
    }
}
