//! signing-secrets: reports whether it holds a key and, when asked to and
//! only when it holds none, fills it with a generated cosign key pair.
//! A Secret that holds a key is never written.

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tracing::info;

use super::apply::Applier;
use super::desired::names;
use super::error::{Error, Result};
use crate::crd::ConditionUpdate;
use crate::signing::generate_cosign_key_pair;

/// Condition type reporting the state of signing-secrets.
pub const CONDITION: &str = "SigningSecret";

/// The key files present (non-empty) in a Secret.
pub fn key_files(secret: &DynamicObject) -> Vec<&'static str> {
    files_in(secret, names::KEY_FILES)
}

/// Which of `files` the Secret holds (non-empty).
fn files_in(secret: &DynamicObject, files: &[&'static str]) -> Vec<&'static str> {
    let data = &secret.data["data"];
    files.iter().copied().filter(|k| data.get(*k).and_then(Value::as_str).is_some_and(|v| !v.is_empty())).collect()
}

/// Files key generation writes besides `cosign.key`; one already there stops it.
const GENERATED_FILES: &[&str] = &["cosign.pub", names::COSIGN_PASSWORD];

/// Makes sure the Secret matches `generate`, without ever replacing a key.
pub async fn reconcile(applier: &Applier, ns: &str, generate: bool, secret: &DynamicObject) -> Result<ConditionUpdate> {
    let what = format!("Secret {ns}/{}", names::SIGNING_SECRET);
    let present = key_files(secret);
    if !present.is_empty() {
        let mut message = format!("{what} holds {}; the operator never changes it", present.join(" and "));
        if !generate {
            message.push_str(" (also not when generateSigningSecret is false)");
        }
        return Ok(ConditionUpdate::new(CONDITION, true, "KeyPresent", message));
    }
    if !generate {
        return Ok(ConditionUpdate::new(
            CONDITION,
            false,
            "NoKey",
            format!(
                "{what} holds no x509.pem or cosign.key: add one (cosign generate-key-pair k8s://{ns}/{}) or set generateSigningSecret: true",
                names::SIGNING_SECRET
            ),
        ));
    }
    let partial = files_in(secret, GENERATED_FILES);
    if !partial.is_empty() {
        return Ok(ConditionUpdate::new(
            CONDITION,
            false,
            "PartialKey",
            format!(
                "{what} holds {} but no key; no key is generated, since that would overwrite {}: add cosign.key (or x509.pem), or empty the Secret",
                partial.join(" and "),
                if partial.len() == 1 { "it" } else { "them" }
            ),
        ));
    }
    let pair = generate_cosign_key_pair()
        .map_err(|e| Error::KeyGeneration { secret: what.clone(), message: e.to_string() })?;
    let b64 = |s: &str| base64_encode(s.as_bytes());
    // resourceVersion makes this a compare-and-swap: if anyone wrote a key
    // meanwhile, the patch fails and the next reconcile sees their key.
    let patch = json!({
        "metadata": { "resourceVersion": secret.resource_version() },
        "data": {
            "cosign.key": b64(&pair.private_pem),
            "cosign.pub": b64(&pair.public_pem),
            "cosign.password": b64(&pair.password),
        },
    });
    let api = secret_api(applier, ns);
    applier.count_write();
    api.patch(names::SIGNING_SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("write generated key to", &what))?;
    info!(secret = %what, "generated a cosign key pair (ECDSA P-256) into an empty signing secret");
    Ok(ConditionUpdate::new(CONDITION, true, "Generated", format!("{what} holds a generated cosign key pair")))
}

/// Says whether the Secret in `ns` holds a key (for messages when Chains is removed).
pub async fn kept_message(applier: &Applier, ns: &str) -> Result<Option<String>> {
    let api = secret_api(applier, ns);
    let what = format!("Secret {ns}/{}", names::SIGNING_SECRET);
    let secret = api.get_opt(names::SIGNING_SECRET).await.map_err(Error::kube("get", &what))?;
    Ok(secret.filter(|s| !key_files(s).is_empty()).map(|_| format!("{what} holds a signing key and was kept")))
}

fn secret_api(applier: &Applier, ns: &str) -> Api<DynamicObject> {
    let resource = kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
    Api::namespaced_with(applier.client().clone(), ns, &resource)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
