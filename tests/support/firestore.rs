//! The test Firestore (hack/firestore.sh): Google's Cloud Firestore
//! emulator, where the gcloud SDK has it installed. The signers under test
//! find it through `FIRESTORE_EMULATOR_HOST`, as Google's client libraries do.

use std::sync::Once;

static ENV: Once = Once::new();

/// `host:port` of the running emulator: TEST_FIRESTORE_ENV (a file written
/// by `hack/firestore.sh up`), else one started by that script under
/// target/; `None` (said on stderr) where there is no emulator. Its
/// `FIRESTORE_EMULATOR_HOST` becomes this process's.
pub fn firestore() -> Option<String> {
    let (_, v) = super::component_env("TEST_FIRESTORE_ENV", "firestore", "test-firestore");
    if let Some(why) = v.get("FIRESTORE_MISSING") {
        eprintln!("skipped: {why}");
        return None;
    }
    let host = v["FIRESTORE_EMULATOR_HOST"].clone();
    ENV.call_once(|| {
        // SAFETY: once, before this test's signer reads the environment.
        unsafe { std::env::set_var("FIRESTORE_EMULATOR_HOST", &host) };
    });
    Some(host)
}

/// The document at `path/id` (REST JSON), if any.
pub async fn get(host: &str, path: &str, id: &str) -> Option<serde_json::Value> {
    let url = format!("http://{host}/v1/{path}/{id}");
    let res = reqwest::Client::new().get(url).bearer_auth("owner").send().await.expect("GET document");
    if res.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert!(res.status().is_success(), "GET {path}/{id}: {}", res.status());
    Some(res.json().await.unwrap())
}
