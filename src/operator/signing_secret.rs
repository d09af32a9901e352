//! signing-secrets: reports whether it holds a key and, when asked to and
//! only when it holds none, fills it with a generated cosign key pair. It
//! is never created empty (the admin creates it, as the seeds say, with
//! cosign or `oc create secret generic`), and a Secret that holds a key is
//! never written.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tracing::info;

use super::apply::Applier;
use super::desired::FIELD_MANAGER;
use super::error::{Error, Result, Step};
use crate::crd::{ConditionType, ConditionUpdate, Reason};
use crate::signing::generate_cosign_key_pair;
use crate::tekton::objects::{COSIGN_PASSWORD, KEY_FILES, SIGNING_SECRET};

/// What signing-secrets holds, as far as the `SigningSecret` condition goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretState {
    /// There is no such Secret, and no key is to be generated.
    Absent,
    /// It holds these key files; `generate` is what the spec asks for.
    KeyPresent { files: Vec<&'static str>, generate: bool },
    /// No key, and none is to be generated.
    NoKey,
    /// No key, but generated files that a new key pair would overwrite.
    PartialKey { files: Vec<&'static str> },
    /// The operator has just generated a key pair into it.
    Generated,
}

/// The key files present (non-empty) in a Secret.
pub fn key_files(secret: &DynamicObject) -> Vec<&'static str> {
    files_in(secret, KEY_FILES)
}

/// Which of `files` the Secret holds (non-empty).
fn files_in(secret: &DynamicObject, files: &[&'static str]) -> Vec<&'static str> {
    let data = &secret.data["data"];
    files.iter().copied().filter(|k| data.get(*k).and_then(Value::as_str).is_some_and(|v| !v.is_empty())).collect()
}

/// Files key generation writes besides `cosign.key`; one already there stops it.
const GENERATED_FILES: &[&str] = &["cosign.pub", COSIGN_PASSWORD];

/// The Secret's state, or `None` when a key pair is to be generated into it.
pub fn inspect(secret: &DynamicObject, generate: bool) -> Option<SecretState> {
    let files = key_files(secret);
    if !files.is_empty() {
        return Some(SecretState::KeyPresent { files, generate });
    }
    if !generate {
        return Some(SecretState::NoKey);
    }
    let files = files_in(secret, GENERATED_FILES);
    (!files.is_empty()).then_some(SecretState::PartialKey { files })
}

/// The `SigningSecret` condition for the Secret in `ns`.
pub fn condition(state: &SecretState, ns: &str) -> ConditionUpdate {
    let what = secret_name(ns);
    let (status, reason, message) = match state {
        SecretState::Absent => (
            false,
            Reason::NoKey,
            format!(
                "{what} does not exist: create it (cosign generate-key-pair k8s://{ns}/{SIGNING_SECRET}, or oc create secret generic {SIGNING_SECRET} -n {ns} --from-file=x509.pem) or set generateSigningSecret: true"
            ),
        ),
        SecretState::KeyPresent { files, generate } => {
            let mut message = format!("{what} holds {}; the operator never changes it", files.join(" and "));
            if !generate {
                message.push_str(" (also not when generateSigningSecret is false)");
            }
            (true, Reason::KeyPresent, message)
        }
        SecretState::NoKey => (
            false,
            Reason::NoKey,
            format!(
                "{what} holds no x509.pem or cosign.key: add one (cosign generate-key-pair k8s://{ns}/{SIGNING_SECRET}) or set generateSigningSecret: true"
            ),
        ),
        SecretState::PartialKey { files } => (
            false,
            Reason::PartialKey,
            format!(
                "{what} holds {} but no key; no key is generated, since that would overwrite {}: add cosign.key (or x509.pem), or empty the Secret",
                files.join(" and "),
                if files.len() == 1 { "it" } else { "them" }
            ),
        ),
        SecretState::Generated => (true, Reason::Generated, format!("{what} holds a generated cosign key pair")),
    };
    ConditionUpdate::new(ConditionType::SigningSecret, status, reason, message)
}

/// Makes sure the Secret matches `generate`, without ever replacing a key:
/// a missing one is created only to hold a generated key pair.
pub async fn reconcile(
    applier: &Applier,
    ns: &str,
    generate: bool,
    labels: &BTreeMap<String, String>,
) -> Result<SecretState> {
    let api = secret_api(applier, ns);
    let what = secret_name(ns);
    let secret = match api.get_opt(SIGNING_SECRET).await.map_err(Error::kube(Step::Get, &what))? {
        Some(secret) => secret,
        None if !generate => return Ok(SecretState::Absent),
        None => {
            let data = key_pair_data(&what)?;
            let body = json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": { "name": SIGNING_SECRET, "namespace": ns, "labels": labels },
                "data": data,
            });
            let body: DynamicObject = serde_json::from_value(body).expect("a well-formed Secret");
            applier.count_write();
            let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
            match api.create(&params, &body).await {
                Ok(_) => return Ok(generated(&what)),
                // The admin (or cosign) created it meanwhile: theirs wins, and is inspected.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    api.get(SIGNING_SECRET).await.map_err(Error::kube(Step::Get, &what))?
                }
                Err(e) => return Err(Error::kube(Step::WriteKey, &what)(e)),
            }
        }
    };
    if let Some(state) = inspect(&secret, generate) {
        return Ok(state);
    }
    let data = key_pair_data(&what)?;
    // resourceVersion makes this a compare-and-swap: if anyone wrote a key
    // meanwhile, the patch fails and the next reconcile sees their key.
    let patch = json!({ "metadata": { "resourceVersion": secret.resource_version() }, "data": data });
    applier.count_write();
    api.patch(SIGNING_SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(Step::WriteKey, &what))?;
    Ok(generated(&what))
}

/// A new cosign key pair, as the Secret `data` that holds it.
fn key_pair_data(what: &str) -> Result<Value> {
    let pair = generate_cosign_key_pair()
        .map_err(|e| Error::KeyGeneration { secret: what.to_string(), message: e.to_string() })?;
    let b64 = |s: &str| base64_encode(s.as_bytes());
    Ok(json!({
        "cosign.key": b64(&pair.private_pem),
        "cosign.pub": b64(&pair.public_pem),
        "cosign.password": b64(&pair.password),
    }))
}

fn generated(what: &str) -> SecretState {
    info!(secret = %what, "generated a cosign key pair (ECDSA P-256) into the signing secret");
    SecretState::Generated
}

/// Says whether the Secret in `ns` holds a key (for messages when Chains is removed).
pub async fn kept_message(applier: &Applier, ns: &str) -> Result<Option<String>> {
    let api = secret_api(applier, ns);
    let what = secret_name(ns);
    let secret = api.get_opt(SIGNING_SECRET).await.map_err(Error::kube(Step::Get, &what))?;
    Ok(secret.filter(|s| !key_files(s).is_empty()).map(|_| format!("{what} holds a signing key and was kept")))
}

fn secret_name(ns: &str) -> String {
    format!("Secret {ns}/{SIGNING_SECRET}")
}

fn secret_api(applier: &Applier, ns: &str) -> Api<DynamicObject> {
    let resource = kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
    Api::namespaced_with(applier.client().clone(), ns, &resource)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": SIGNING_SECRET, "namespace": "ns" },
            "data": data,
        }))
        .unwrap()
    }

    #[test]
    fn a_key_is_reported_and_never_replaced() {
        let s = secret(json!({ "cosign.key": "a2V5", "x509.pem": "" }));
        let state = inspect(&s, true).unwrap();
        assert_eq!(state, SecretState::KeyPresent { files: vec!["cosign.key"], generate: true });
        let c = condition(&state, "ns");
        assert_eq!((c.type_, c.status, c.reason.as_str()), (ConditionType::SigningSecret, true, "KeyPresent"));
        assert_eq!(c.message, "Secret ns/signing-secrets holds cosign.key; the operator never changes it");
        let off = condition(&inspect(&s, false).unwrap(), "ns");
        assert!(off.message.ends_with(" (also not when generateSigningSecret is false)"));
    }

    #[test]
    fn no_key_says_how_to_add_one_or_generates() {
        let empty = secret(json!({}));
        let c = condition(&inspect(&empty, false).unwrap(), "ns");
        assert_eq!((c.status, c.reason.as_str()), (false, "NoKey"));
        assert!(c.message.contains("cosign generate-key-pair k8s://ns/signing-secrets"), "{}", c.message);
        assert_eq!(inspect(&empty, true), None, "generate into an empty Secret");
        let g = condition(&SecretState::Generated, "ns");
        assert_eq!((g.status, g.reason.as_str()), (true, "Generated"));
    }

    #[test]
    fn an_absent_secret_says_how_to_create_it() {
        let c = condition(&SecretState::Absent, "ns");
        assert_eq!((c.status, c.reason.as_str()), (false, "NoKey"));
        assert!(c.message.starts_with("Secret ns/signing-secrets does not exist: create it (cosign generate-key-pair k8s://ns/signing-secrets, or oc create secret generic signing-secrets -n ns"), "{}", c.message);
    }

    #[test]
    fn generated_files_without_a_key_stop_generation() {
        let s = secret(json!({ "cosign.pub": "cHVi", "cosign.password": "cHc=" }));
        let state = inspect(&s, true).unwrap();
        let c = condition(&state, "ns");
        assert_eq!((c.status, c.reason.as_str()), (false, "PartialKey"));
        assert!(c.message.contains("holds cosign.pub and cosign.password but no key"), "{}", c.message);
        assert!(c.message.contains("would overwrite them"), "{}", c.message);
    }
}
