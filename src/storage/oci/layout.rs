//! cosign's registry layout (pure): the layer a signature or attestation
//! becomes, the tag it goes to (`sha256-<hex>.sig` / `.att`), and the
//! manifest that appends it to what the tag already holds.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::signing::Signed;

/// Media type of a simplesigning signature layer.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of an attestation layer (a DSSE envelope).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Media types of the manifests written (and accepted when read).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Layer annotation keys, as cosign writes and reads them.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor bundle (SignedEntryTimestamp and entry), for offline tlog checks.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// Which of an image's two cosign tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `sha256-<hex>.sig`: simplesigning signatures.
    Signature,
    /// `sha256-<hex>.att`: attestations.
    Attestation,
}

impl Tag {
    /// The tag for the image with `digest` (`sha256:<hex>`).
    pub fn for_digest(self, digest: &str) -> String {
        let suffix = match self {
            Tag::Signature => "sig",
            Tag::Attestation => "att",
        };
        format!("{}.{suffix}", referrers_tag(digest))
    }
}

/// `sha256-<hex>` for `sha256:<hex>`: the stem of cosign's tags, and the
/// referrers-tag of OCI 1.1 registries without the Referrers API.
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// One layer to add: its bytes, media type and annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: &'static str,
    pub data: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Layer {
    /// A simplesigning signature: the payload, with the base64 signature (and
    /// certificate and chain, when there are any) as annotations.
    pub fn signature(signed: &Signed) -> Self {
        let mut annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), STANDARD.encode(&signed.signature))]);
        Self::verification(signed, &mut annotations);
        Self { media_type: SIMPLESIGNING, data: signed.payload.clone(), annotations }
    }

    /// An attestation: the DSSE envelope, with its predicate type. cosign
    /// writes an empty signature annotation on attestations too.
    pub fn attestation(signed: &Signed, predicate_type: &str) -> Self {
        let mut annotations = BTreeMap::from([
            (SIGNATURE_ANNOTATION.to_string(), String::new()),
            (PREDICATE_TYPE_ANNOTATION.to_string(), predicate_type.to_string()),
        ]);
        Self::verification(signed, &mut annotations);
        Self { media_type: DSSE_ENVELOPE, data: signed.stored_signature(), annotations }
    }

    /// Certificate, chain and Rekor bundle, when there are any.
    fn verification(signed: &Signed, annotations: &mut BTreeMap<String, String>) {
        if let Some(cert) = signed.verifier.cert.as_deref() {
            annotations.insert(CERTIFICATE_ANNOTATION.into(), cert.to_string());
        }
        if let Some(chain) = signed.verifier.chain.as_deref() {
            annotations.insert(CHAIN_ANNOTATION.into(), chain.to_string());
        }
        if let Some(bundle) = signed.log_entry.as_ref().and_then(|e| e.bundle.as_deref()) {
            annotations.insert(BUNDLE_ANNOTATION.into(), bundle.to_string());
        }
    }

    /// `sha256:<hex>` of the layer's bytes.
    pub fn digest(&self) -> String {
        sha256_digest(&self.data)
    }

    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "size": self.data.len(), "digest": self.digest(), "annotations": self.annotations })
    }
}

/// What pushing a layer to a tag takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// The tag holds this very layer already (a retry, or a second signer
    /// process): nothing to push.
    Present,
    /// Push the config blob, then this manifest (the layer blob too).
    Push { manifest: Vec<u8>, media_type: String, config: Vec<u8> },
}

/// Why a tag's manifest cannot take a layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Field(String),
}

/// Appends `layer` to the manifest the tag holds now (`None` when the tag
/// does not exist). Every existing layer and manifest field is kept; the
/// config is rebuilt to list all layers. The same layer (same digest and
/// annotations, the Rekor bundle aside) is never added twice. A manifest
/// that is not an image manifest (a registry's or tenant's junk) is refused.
pub fn merge(existing: Option<&Value>, layer: &Layer) -> Result<Merge, LayoutError> {
    let ours = layer.descriptor();
    let Document { mut doc, media_type, list: layers } =
        Document::open(existing, &[OCI_MANIFEST, DOCKER_MANIFEST], "layers", "an image manifest")?;
    // The bundle is left out of the comparison: the log signs a fresh
    // timestamp each time an entry is fetched, so a retry's differs.
    let annotations = |l: &Value| {
        let mut a = l.get("annotations").and_then(Value::as_object).cloned().unwrap_or_default();
        a.remove(BUNDLE_ANNOTATION);
        a
    };
    let present = layers.iter().any(|l| {
        l.get("digest") == ours.get("digest")
            && l.get("mediaType") == ours.get("mediaType")
            && annotations(l) == annotations(&ours)
    });
    if present {
        return Ok(Merge::Present);
    }
    let mut layers = layers;
    layers.push(ours);
    let config_type = if media_type == DOCKER_MANIFEST { DOCKER_CONFIG } else { OCI_CONFIG };
    let config = config_blob(&layers);
    doc.insert("layers".into(), Value::Array(layers));
    doc.insert(
        "config".into(),
        json!({ "mediaType": config_type, "size": config.len(), "digest": sha256_digest(&config) }),
    );
    doc.insert("mediaType".into(), Value::String(media_type.clone()));
    let manifest = serde_json::to_vec(&doc).expect("a JSON map serializes");
    Ok(Merge::Push { manifest, media_type, config })
}

/// A manifest or index a tag holds, opened to add one descriptor: its
/// fields, media type and descriptor list (`layers` or `manifests`).
pub(super) struct Document {
    pub doc: serde_json::Map<String, Value>,
    pub media_type: String,
    pub list: Vec<Value>,
}

impl Document {
    /// Opens `existing` (`None`: a fresh one of `allowed[0]`), refusing a
    /// non-object, a media type not in `allowed` (`what` names them) and a
    /// `list_key` that is not a list of descriptors.
    pub(super) fn open(
        existing: Option<&Value>,
        allowed: &[&str],
        list_key: &str,
        what: &str,
    ) -> Result<Self, LayoutError> {
        let first = allowed.first().copied().unwrap_or_default();
        let doc = match existing {
            None => serde_json::Map::from_iter([
                ("schemaVersion".to_string(), json!(2)),
                ("mediaType".to_string(), json!(first)),
            ]),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(LayoutError::NotAnObject),
        };
        let media_type = match doc.get("mediaType") {
            None => first.to_string(),
            Some(Value::String(t)) if allowed.contains(&t.as_str()) => t.clone(),
            Some(other) => {
                let shown = crate::http::excerpt(other.to_string().as_bytes(), 80);
                return Err(LayoutError::Field(format!("mediaType {shown} is not {what}")));
            }
        };
        let list = match doc.get(list_key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(l)) if l.iter().all(Value::is_object) => l.clone(),
            Some(_) => return Err(LayoutError::Field(format!("{list_key} is not a list of descriptors"))),
        };
        Ok(Self { doc, media_type, list })
    }
}

/// The image config of a signature image, as go-containerregistry writes
/// it for layers appended to an empty image.
fn config_blob(layers: &[Value]) -> Vec<u8> {
    let zero = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<&Value> = layers.iter().map(|l| l.get("digest").unwrap_or(&Value::Null)).collect();
    let history: Vec<Value> = layers.iter().map(|_| json!({ "created": zero })).collect();
    serde_json::to_vec(&json!({
        "architecture": "", "created": zero, "history": history, "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids }, "config": {},
    }))
    .expect("config serializes")
}

#[cfg(test)]
mod tests;
