//! [`Signed`]: one signed artifact, carried from signing to every storage
//! backend and the transparency log.

use super::dsse::Envelope;
use super::signer::Verifier;
use crate::config::Artifact;
use crate::formats::Image;

/// What a payload describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The run itself (its provenance or its status).
    Run,
    /// An image the run built (simplesigning payload).
    Image(Image),
}

/// One signed artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    /// Which artifact type's config it follows (taskrun, pipelinerun, oci).
    pub artifact: Artifact,
    pub subject: Subject,
    /// Storage key: `taskrun-<uid>`, `pipelinerun-<uid>`, or 12 hex of an image digest.
    pub key: String,
    /// The bytes that were signed (for DSSE, the statement inside the envelope).
    pub payload: Vec<u8>,
    /// The raw signature (for DSSE, over the PAE of the payload).
    pub signature: Vec<u8>,
    /// The DSSE envelope, for in-toto payloads.
    pub envelope: Option<Envelope>,
    pub verifier: Verifier,
    /// Its transparency log entry, once uploaded.
    pub log_entry: Option<LogEntry>,
}

impl Signed {
    /// What storage calls "the signature": the envelope JSON for DSSE, else the raw signature.
    pub fn stored_signature(&self) -> Vec<u8> {
        match &self.envelope {
            Some(env) => serde_json::to_vec(env).expect("envelope serializes"),
            None => self.signature.clone(),
        }
    }

    /// What the signature covers: the DSSE PAE, or the payload itself.
    pub fn signed_bytes(&self) -> Vec<u8> {
        match &self.envelope {
            Some(env) => super::dsse::pae(&env.payload_type, &self.payload),
            None => self.payload.clone(),
        }
    }

    /// A test artifact: `payload` signed `sig` by key `PEM`, with `cert` if
    /// given, DSSE-wrapped if `envelope`.
    #[cfg(test)]
    pub fn fixture(artifact: Artifact, key: &str, payload: &[u8], cert: Option<&str>, envelope: bool) -> Self {
        use super::dsse;
        Self {
            artifact,
            subject: Subject::Run,
            key: key.into(),
            envelope: envelope.then(|| dsse::envelope(dsse::IN_TOTO_PAYLOAD_TYPE, payload, b"sig")),
            payload: payload.to_vec(),
            signature: b"sig".to_vec(),
            verifier: Verifier { public_key_pem: "PEM".into(), cert: cert.map(Into::into), chain: None },
            log_entry: None,
        }
    }
}

/// An entry in a transparency log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's index in the log.
    pub log_index: u64,
    /// The entry's UUID.
    pub uuid: String,
    /// `<log url>/api/v1/log/entries?logIndex=<n>`, the run's annotation value.
    pub url: String,
    /// The cosign bundle (`dev.sigstore.cosign/bundle`), once the entry's
    /// SignedEntryTimestamp was checked.
    pub bundle: Option<String>,
    /// The entry as a sigstore bundle's `TransparencyLogEntry` (with its
    /// inclusion proof), when the log gave one.
    pub tlog_entry: Option<serde_json::Value>,
}
