//! The test AWS KMS (hack/localkms.sh): nsmithuk/local-kms, a real KMS API
//! server, in memory, and moto's server as AWS STS. The signer and cosign find it through the standard
//! AWS environment (`AWS_ENDPOINT_URL_KMS`, `AWS_REGION`, test credentials).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use serde_json::{Value, json};

/// Where local-kms listens, and its region and account.
#[derive(Debug, Clone)]
pub struct LocalKms {
    pub endpoint: String,
    pub region: String,
    pub account: String,
    /// The test secret access key (to check it never leaks).
    pub secret: String,
    /// AWS STS (moto's server), for web identity logins, and its request log.
    pub sts: String,
    pub sts_log: PathBuf,
}

static ENV: Once = Once::new();

/// The running local-kms: TEST_LOCAL_KMS_ENV (a file written by
/// `hack/localkms.sh up`), else one started by that script under target/.
/// Its AWS_* variables are this process's (hack/test-integration.sh exports
/// them before the tests start; they are set here when run alone).
pub fn local_kms() -> LocalKms {
    let path = match std::env::var("TEST_LOCAL_KMS_ENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-local-kms");
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/localkms.sh");
            let status = Command::new("bash")
                .arg(script)
                .args(["up", dir.to_str().unwrap()])
                .status()
                .expect("run hack/localkms.sh");
            assert!(status.success(), "hack/localkms.sh up failed");
            dir.join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    ENV.call_once(|| {
        for k in ["AWS_ENDPOINT_URL_KMS", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            if std::env::var(k).ok().as_deref() != Some(v[k]) {
                // SAFETY: once, before this test's signer reads the environment.
                unsafe { std::env::set_var(k, v[k]) };
            }
        }
    });
    LocalKms {
        endpoint: v["AWS_ENDPOINT_URL_KMS"].into(),
        region: v["AWS_REGION"].into(),
        account: v["LOCAL_KMS_ACCOUNT"].into(),
        secret: v["AWS_SECRET_ACCESS_KEY"].into(),
        sts: v["AWS_ENDPOINT_URL_STS"].into(),
        sts_log: v["MOTO_LOG"].into(),
    }
}

impl LocalKms {
    /// One KMS API call (JSON 1.1 protocol); local-kms does not check signatures.
    pub async fn call(&self, action: &str, body: Value) -> Value {
        let res = reqwest::Client::new()
            .post(&self.endpoint)
            .header("X-Amz-Target", format!("TrentService.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{action}: {status}: {text}");
        // CreateAlias and UpdateAlias answer with an empty body.
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
    }

    /// A new signing key of `spec` (ECC_NIST_P256, RSA_2048, ...): its key id.
    pub async fn new_key(&self, spec: &str) -> String {
        let v = self.call("CreateKey", json!({ "KeyUsage": "SIGN_VERIFY", "KeySpec": spec })).await;
        v["KeyMetadata"]["KeyId"].as_str().unwrap().to_string()
    }

    /// Points `alias/NAME` at `key` (created, or moved).
    pub async fn alias(&self, name: &str, key: &str) {
        let listed = self.call("ListAliases", json!({})).await;
        let exists = listed["Aliases"].as_array().unwrap().iter().any(|a| a["AliasName"] == format!("alias/{name}"));
        let action = if exists { "UpdateAlias" } else { "CreateAlias" };
        self.call(action, json!({ "AliasName": format!("alias/{name}"), "TargetKeyId": key })).await;
    }

    /// The ARN of `key`.
    pub fn arn(&self, key: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{key}", self.region, self.account)
    }
}
