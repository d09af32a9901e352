//! The test GCS (hack/gcs.sh): fake-gcs-server, a real GCS JSON API server,
//! in memory, with one bucket. The signers under test find it through
//! `STORAGE_EMULATOR_HOST`, as Google's client libraries do.

use std::path::Path;
use std::sync::Once;

/// Where a fake-gcs-server listens, and its bucket.
#[derive(Debug, Clone)]
pub struct Gcs {
    /// `host:port` (`STORAGE_EMULATOR_HOST`).
    pub host: String,
    pub bucket: String,
}

static ENV: Once = Once::new();

/// The running fake-gcs-server: TEST_GCS_ENV (a file written by
/// `hack/gcs.sh up`), else one started by that script under target/. Its
/// `STORAGE_EMULATOR_HOST` becomes this process's (for in-process signers).
pub fn gcs() -> Gcs {
    let (_, v) = super::component_env("TEST_GCS_ENV", "gcs", "test-gcs");
    let g = Gcs { host: v["STORAGE_EMULATOR_HOST"].clone(), bucket: v["GCS_BUCKET"].clone() };
    ENV.call_once(|| {
        // SAFETY: once, before this test's signer reads the environment.
        unsafe { std::env::set_var("STORAGE_EMULATOR_HOST", &g.host) };
    });
    g
}

/// `hack/gcs.sh up|stop DIR` with `GCS_PORT=port`: another server, for outages.
pub fn script(action: &str, dir: &Path, port: u16) -> Gcs {
    super::hack("gcs", action, dir, &[("GCS_PORT", &port.to_string())]);
    Gcs { host: format!("127.0.0.1:{port}"), bucket: "chains-signatures".into() }
}

impl Gcs {
    fn object_url(&self, name: &str) -> reqwest::Url {
        let mut u = reqwest::Url::parse(&format!("http://{}", self.host)).unwrap();
        u.path_segments_mut().unwrap().extend(["storage", "v1", "b", &self.bucket, "o", name]);
        u.query_pairs_mut().append_pair("alt", "media");
        u
    }

    /// The bytes of object `name`, or `None` when there is none.
    pub async fn read(&self, name: &str) -> Option<Vec<u8>> {
        let res = reqwest::get(self.object_url(name)).await.expect("GET object");
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(res.status().is_success(), "GET {name}: {}", res.status());
        Some(res.bytes().await.unwrap().to_vec())
    }

    /// The names of the objects under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Vec<String> {
        let mut u = reqwest::Url::parse(&format!("http://{}/storage/v1/b/{}/o", self.host, self.bucket)).unwrap();
        u.query_pairs_mut().append_pair("prefix", prefix);
        let v: serde_json::Value = reqwest::get(u).await.unwrap().json().await.unwrap();
        let mut names: Vec<String> =
            v["items"].as_array().into_iter().flatten().filter_map(|i| i["name"].as_str().map(String::from)).collect();
        names.sort();
        names
    }
}
