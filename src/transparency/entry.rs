//! Rekor v1 entries (pure): the proposed entry for a signed artifact, the
//! entry the log answers with, the check of its SignedEntryTimestamp, and
//! the cosign bundle annotation made from it.
//!
//! - a DSSE envelope (in-toto attestation) becomes an `intoto` v0.0.2 entry
//!   (Rekor keeps the attestation) or a `dsse` v0.0.1 entry, as configured;
//! - any other signature becomes a `hashedrekord` v0.0.1 entry over the
//!   sha256 of the payload.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::LogEntryKind;
use crate::signing::Signed;

/// Lower-case hex of sha256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The proposed entry (request body of `POST /api/v1/log/entries`) for `signed`.
pub fn proposed(signed: &Signed, kind: LogEntryKind) -> Value {
    let verifier = signed.verifier.cert.as_deref().unwrap_or(&signed.verifier.public_key_pem);
    let verifier = STANDARD.encode(verifier.as_bytes());
    let Some(env) = &signed.envelope else {
        return json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": sha256_hex(&signed.payload) } },
                "signature": { "content": STANDARD.encode(&signed.signature), "publicKey": { "content": verifier } },
            },
        });
    };
    match kind {
        LogEntryKind::Dsse => {
            let envelope = String::from_utf8(signed.stored_signature()).expect("envelope JSON is UTF-8");
            json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": { "proposedContent": { "envelope": envelope, "verifiers": [verifier] } },
            })
        }
        // intoto v0.0.2 carries the envelope's base64 fields base64-encoded
        // once more; `hash` is the digest of the envelope as stored (what
        // cosign compares with the `.att` layer), `payloadHash` that of the
        // statement.
        LogEntryKind::InToto => {
            let signatures: Vec<Value> = env
                .signatures
                .iter()
                .map(|s| json!({ "keyid": s.keyid, "sig": STANDARD.encode(&s.sig), "publicKey": verifier }))
                .collect();
            json!({
                "apiVersion": "0.0.2",
                "kind": "intoto",
                "spec": { "content": {
                    "envelope": {
                        "payloadType": env.payload_type,
                        "payload": STANDARD.encode(&env.payload),
                        "signatures": signatures,
                    },
                    "hash": { "algorithm": "sha256", "value": sha256_hex(&signed.stored_signature()) },
                    "payloadHash": { "algorithm": "sha256", "value": sha256_hex(&signed.payload) },
                } },
            })
        }
    }
}

/// One entry as the log returns it (the value under its UUID).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// base64 of the canonical entry body.
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    pub log_index: u64,
    pub verification: Verification,
}

/// Proof material of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// base64 of the log's signature over [`Entry::signed_payload`].
    #[serde(default)]
    pub signed_entry_timestamp: String,
    /// The entry's inclusion in a signed tree head (Rekor 1.1+), as sent:
    /// read only when a bundle needs it, so a log's odd proof never fails
    /// the entry.
    #[serde(default)]
    pub inclusion_proof: Option<Value>,
}

/// A Merkle inclusion proof, as Rekor v1 answers it (hashes in hex).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub log_index: u64,
    pub root_hash: String,
    pub tree_size: u64,
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The signed checkpoint (a signed note) the proof is against.
    #[serde(default)]
    pub checkpoint: String,
}

/// Why an answer of the log was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("unexpected answer: {0}")]
    Malformed(String),
    #[error("the log's public key: {0}")]
    LogKey(String),
    #[error("SignedEntryTimestamp does not verify with the log's public key")]
    BadTimestamp,
    #[error("logID {got} is not the log key's ({want})")]
    WrongLog { got: String, want: String },
    #[error("the log answered with an entry for something else: {0}")]
    NotOurs(String),
}

/// Reads `{ "<uuid>": { entry } }`, the log's answer for one entry.
pub fn parse(body: &[u8]) -> Result<(String, Entry), EntryError> {
    let map: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| EntryError::Malformed(e.to_string()))?;
    let (uuid, value) = map.into_iter().next().ok_or_else(|| EntryError::Malformed("no entry".into()))?;
    let entry = serde_json::from_value(value).map_err(|e| EntryError::Malformed(e.to_string()))?;
    Ok((uuid, entry))
}

/// What ties an entry to what was sent: kind, apiVersion, and the digest
/// fields as `(path, value)`.
type Identity = (String, String, Vec<(&'static str, String)>);

/// The [`Identity`] of an entry (proposed, or a log's canonical body).
fn identity(v: &Value) -> Option<Identity> {
    let kind = v.get("kind")?.as_str()?.to_string();
    let version = v.get("apiVersion")?.as_str()?.to_string();
    let spec = v.get("spec")?;
    let at = |path: &[&str]| -> Option<String> {
        let mut cur = spec;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(str::to_string)
    };
    let fields: Vec<(&'static str, Option<String>)> = match kind.as_str() {
        "hashedrekord" => vec![
            ("spec.data.hash.value", at(&["data", "hash", "value"])),
            ("spec.signature.content", at(&["signature", "content"])),
        ],
        "intoto" => vec![("spec.content.payloadHash.value", at(&["content", "payloadHash", "value"]))],
        "dsse" => vec![(
            "spec.payloadHash.value",
            at(&["payloadHash", "value"]).or_else(|| {
                // The proposed form carries the envelope; its payload is base64.
                let env: Value = serde_json::from_str(&at(&["proposedContent", "envelope"])?).ok()?;
                let payload = STANDARD.decode(env.get("payload")?.as_str()?).ok()?;
                Some(sha256_hex(&payload))
            }),
        )],
        _ => return None,
    };
    let fields = fields.into_iter().map(|(k, v)| v.map(|v| (k, v))).collect::<Option<Vec<_>>>()?;
    Some((kind, version, fields))
}

impl Entry {
    /// Checks that the log's entry records what was `sent` (the proposed
    /// entry): same kind and version, same digests (and, for
    /// `hashedrekord`, the same signature).
    pub fn matches(&self, sent: &Value) -> Result<(), EntryError> {
        let body = STANDARD.decode(&self.body).map_err(|_| EntryError::Malformed("body is not base64".into()))?;
        let body: Value =
            serde_json::from_slice(&body).map_err(|_| EntryError::Malformed("body is not JSON".into()))?;
        let want = identity(sent).ok_or_else(|| EntryError::NotOurs("unknown entry kind sent".into()))?;
        let got = identity(&body).ok_or_else(|| EntryError::NotOurs("an entry of another kind".into()))?;
        if (&got.0, &got.1) != (&want.0, &want.1) {
            return Err(EntryError::NotOurs(format!("{} {} instead of {} {}", got.0, got.1, want.0, want.1)));
        }
        for ((field, w), (_, g)) in want.2.iter().zip(&got.2) {
            if w != g {
                return Err(EntryError::NotOurs(format!("{field} differs")));
            }
        }
        Ok(())
    }
}

/// A log's public key (`GET /api/v1/log/publicKey`).
#[derive(Debug, Clone)]
pub enum LogKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl LogKey {
    /// Reads a PEM `PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, EntryError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::P256(k));
        }
        p384::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(Self::P384)
            .map_err(|_| EntryError::LogKey("not an ECDSA P-256 or P-384 public key in PEM".into()))
    }

    /// The log ID: hex sha256 of the key's DER (SubjectPublicKeyInfo).
    pub fn log_id(&self) -> String {
        use p256::pkcs8::EncodePublicKey as _;
        let der = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
        }
        .expect("public keys encode");
        sha256_hex(der.as_bytes())
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let prehash = Sha256::digest(msg);
        match self {
            Self::P256(k) => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            }
            Self::P384(k) => {
                p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify_prehash(&prehash, &s).is_ok())
            }
        }
    }
}

impl Entry {
    /// What the SignedEntryTimestamp signs: the canonical JSON of body,
    /// integratedTime, logID and logIndex (keys sorted, no spaces).
    pub fn signed_payload(&self) -> Vec<u8> {
        let v = json!({
            "body": self.body,
            "integratedTime": self.integrated_time,
            "logID": self.log_id,
            "logIndex": self.log_index,
        });
        serde_json::to_vec(&v).expect("entry serializes")
    }

    /// Checks that the entry is in the log of `key`, signed by it.
    pub fn verify(&self, key: &LogKey) -> Result<(), EntryError> {
        let want = key.log_id();
        if self.log_id != want {
            return Err(EntryError::WrongLog { got: self.log_id.clone(), want });
        }
        let set = STANDARD.decode(&self.verification.signed_entry_timestamp).map_err(|_| EntryError::BadTimestamp)?;
        if key.verify(&self.signed_payload(), &set) { Ok(()) } else { Err(EntryError::BadTimestamp) }
    }

    /// The entry as a sigstore bundle's `TransparencyLogEntry` (protobuf
    /// JSON: 64-bit numbers as strings, bytes as base64), or `None` when
    /// the log gave no inclusion proof with a checkpoint (bundles v0.2+
    /// need one) or its hashes are not hex.
    pub fn tlog_entry(&self) -> Option<Value> {
        let proof = self.verification.inclusion_proof.as_ref()?;
        let proof = InclusionProof::deserialize(proof).ok().filter(|p| !p.checkpoint.is_empty())?;
        let hex64 = |h: &str| hex_bytes(h).map(|b| STANDARD.encode(b));
        let hashes = proof.hashes.iter().map(|h| hex64(h)).collect::<Option<Vec<_>>>()?;
        let body = STANDARD.decode(&self.body).ok()?;
        let body: Value = serde_json::from_slice(&body).ok()?;
        let (kind, version) = (body.get("kind")?.as_str()?, body.get("apiVersion")?.as_str()?);
        Some(json!({
            "logIndex": self.log_index.to_string(),
            "logId": { "keyId": hex64(&self.log_id)? },
            "kindVersion": { "kind": kind, "version": version },
            "integratedTime": self.integrated_time.to_string(),
            "inclusionPromise": { "signedEntryTimestamp": self.verification.signed_entry_timestamp },
            "inclusionProof": {
                "logIndex": proof.log_index.to_string(),
                "rootHash": hex64(&proof.root_hash)?,
                "treeSize": proof.tree_size.to_string(),
                "hashes": hashes,
                "checkpoint": { "envelope": proof.checkpoint },
            },
            "canonicalizedBody": self.body,
        }))
    }

    /// The `dev.sigstore.cosign/bundle` layer annotation, as cosign writes it.
    pub fn bundle(&self) -> String {
        let v = json!({
            "SignedEntryTimestamp": self.verification.signed_entry_timestamp,
            "Payload": {
                "body": self.body,
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            },
        });
        serde_json::to_string(&v).expect("bundle serializes")
    }
}

/// Bytes of a lower- or upper-case hex string (`None` if it is not one).
fn hex_bytes(h: &str) -> Option<Vec<u8>> {
    hex::decode(h).ok()
}

#[cfg(test)]
mod tests;
