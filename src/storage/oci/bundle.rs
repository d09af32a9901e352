//! The sigstore bundle format of `oci` storage (pure): a bundle v0.3 of
//! one signed artifact, the OCI 1.1 manifest that makes it a referrer of
//! an image, and the referrers-tag index for registries without the
//! Referrers API (cosign's BUNDLE_SPEC.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use super::layout::referrers_tag;
use super::layout::{Document, LayoutError, OCI_MANIFEST, sha256_digest};
use crate::signing::Signed;

/// Media type (and artifactType) of a sigstore bundle v0.3.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media type of an image index (the referrers list).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty config descriptor's media type and blob.
pub const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Annotations cosign reads to tell bundles apart.
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A manifest a referrer points at: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: usize,
}

/// The bundle of a DSSE-signed artifact: its envelope, the verifier (the
/// certificate, or a hint of the public key) and its log entry, if any.
/// `None` for a raw signature (the bundle format takes DSSE only here).
pub fn sigstore_bundle(signed: &Signed) -> Option<Vec<u8>> {
    let env = signed.envelope.as_ref()?;
    let mut material = serde_json::Map::new();
    match signed.verifier.cert.as_deref().and_then(leaf_der) {
        Some(der) => {
            material.insert("certificate".into(), json!({ "rawBytes": STANDARD.encode(der) }));
        }
        None => {
            let hint = key_der(&signed.verifier.public_key_pem).map(|d| STANDARD.encode(Sha256::digest(d)));
            material.insert("publicKey".into(), json!({ "hint": hint.unwrap_or_default() }));
        }
    }
    let entries: Vec<Value> = signed.log_entry.iter().filter_map(|e| e.tlog_entry.clone()).collect();
    material.insert("tlogEntries".into(), Value::Array(entries));
    let signatures: Vec<Value> = env.signatures.iter().map(|s| json!({ "sig": s.sig, "keyid": s.keyid })).collect();
    let bundle = json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": material,
        "dsseEnvelope": { "payload": env.payload, "payloadType": env.payload_type, "signatures": signatures },
    });
    Some(serde_json::to_vec(&bundle).expect("a bundle serializes"))
}

/// DER of the first certificate of a PEM chain.
fn leaf_der(pem: &str) -> Option<Vec<u8>> {
    use x509_cert::der::Encode as _;
    let certs = x509_cert::Certificate::load_pem_chain(pem.as_bytes()).ok()?;
    certs.first()?.to_der().ok()
}

/// DER of a PEM `PUBLIC KEY`.
fn key_der(pem: &str) -> Option<Vec<u8>> {
    let (_, doc) = x509_cert::der::Document::from_pem(pem).ok()?;
    Some(doc.as_bytes().to_vec())
}

/// The annotations a bundle referrer carries: what the bundle holds and
/// when the run finished (a fixed time, so a retry pushes the same manifest).
pub fn annotations(predicate_type: &str, created: Option<&str>) -> serde_json::Map<String, Value> {
    let mut a = serde_json::Map::new();
    a.insert(CONTENT_ANNOTATION.into(), json!("dsse-envelope"));
    a.insert(PREDICATE_ANNOTATION.into(), json!(predicate_type));
    if let Some(c) = created {
        a.insert(CREATED_ANNOTATION.into(), json!(c));
    }
    a
}

/// The referrer manifest of `bundle` about `subject`.
pub fn referrer_manifest(bundle: &[u8], subject: &Descriptor, annotations: &serde_json::Map<String, Value>) -> Vec<u8> {
    let digest = sha256_digest(bundle);
    let title = format!("{}.sigstore.json", referrers_tag(&digest));
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": { "mediaType": EMPTY_CONFIG_TYPE, "digest": sha256_digest(EMPTY_CONFIG), "size": EMPTY_CONFIG.len() },
        "layers": [{
            "mediaType": BUNDLE_V03, "digest": digest, "size": bundle.len(),
            "annotations": { TITLE_ANNOTATION: title },
        }],
        "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size },
        "annotations": annotations,
    });
    serde_json::to_vec(&m).expect("a manifest serializes")
}

/// Adds the referrer `manifest` to the referrers-tag index the tag holds
/// now (`None`: no tag yet). `Ok(None)` when it is listed already. Other
/// entries are kept; an index that is not one is refused.
pub fn index_with(
    existing: Option<&Value>,
    manifest: &[u8],
    annotations: &serde_json::Map<String, Value>,
) -> Result<Option<Vec<u8>>, LayoutError> {
    let digest = sha256_digest(manifest);
    let Document { doc: mut index, list: mut manifests, .. } =
        Document::open(existing, &[OCI_INDEX], "manifests", "an image index")?;
    if manifests.iter().any(|m| m.get("digest").and_then(Value::as_str) == Some(digest.as_str())) {
        return Ok(None);
    }
    manifests.push(json!({
        "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
        "artifactType": BUNDLE_V03, "annotations": annotations,
    }));
    index.insert("manifests".into(), Value::Array(manifests));
    index.insert("mediaType".into(), json!(OCI_INDEX));
    Ok(Some(serde_json::to_vec(&index).expect("an index serializes")))
}

#[cfg(test)]
mod tests;
