//! What to sign for a finished run, signed into annotations: pure, no I/O.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::ChainsConfig;
use crate::formats::{self, Artifacts, Run, RunKind};
use crate::signing::SigningKey;
use crate::signing::dsse::{self, IN_TOTO_PAYLOAD_TYPE};

/// Annotation prefix of everything Chains writes.
pub const PREFIX: &str = "chains.tekton.dev/";
pub const SIGNED: &str = "chains.tekton.dev/signed";
pub const RETRIES: &str = "chains.tekton.dev/retries";

/// One payload to sign and store.
#[derive(Debug, Clone, PartialEq)]
pub struct Signable {
    /// Storage key: `taskrun-<uid>`, `pipelinerun-<uid>`, or 12 hex of an image digest.
    pub key: String,
    /// The bytes that are signed (for DSSE, the statement inside the envelope).
    pub payload: Vec<u8>,
    /// Wrap in a DSSE envelope (in-toto formats).
    pub dsse: bool,
    /// Storage backends for it.
    pub storage: Vec<String>,
    /// `taskrun`, `pipelinerun` or `oci`: which metric and config it belongs to.
    pub artifact: &'static str,
}

/// Why a run cannot be signed now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("storage backend {backend:?} (artifacts.{artifact}.storage) is not supported yet; supported: \"tekton\"")]
    UnsupportedStorage { artifact: &'static str, backend: String },
    #[error("format {format:?} (artifacts.{artifact}.format) is not supported yet")]
    UnsupportedFormat { artifact: &'static str, format: String },
    #[error(
        "signer {signer:?} (artifacts.{artifact}.signer) is not supported yet; supported: \"x509\" with x509.pem or cosign.key, \"none\""
    )]
    UnsupportedSigner { artifact: &'static str, signer: String },
    #[error("keyless signing (signers.x509.fulcio.enabled) is not supported yet")]
    Keyless,
}

/// Backends this release can write.
const SUPPORTED_STORAGE: &[&str] = &["tekton"];

/// Decides what to sign for a run. `children` are the finished child TaskRuns
/// of a PipelineRun (for deep inspection); `artifacts` are the run's own.
pub fn plan(
    run: &Run,
    config: &ChainsConfig,
    artifacts: &Artifacts,
    children: &[serde_json::Value],
) -> Result<Vec<Signable>, PlanError> {
    let (cfg, name) = match run.kind {
        RunKind::TaskRun => (&config.taskrun, "taskrun"),
        RunKind::PipelineRun => (&config.pipelinerun, "pipelinerun"),
    };
    let mut out = Vec::new();
    if cfg.signer != "none" && !cfg.storage.is_empty() {
        check_signer(name, &cfg.signer, config)?;
        check_storage(name, &cfg.storage)?;
        let (payload, dsse) = match cfg.format.as_str() {
            "tekton" => (formats::tekton(run), false),
            "in-toto" => (formats::slsa02::statement(run, config, artifacts, children), true),
            "slsa/v2alpha3" | "slsa/v2alpha4" => {
                (formats::slsa1::statement(run, config, artifacts, children, &cfg.format), true)
            }
            other => return Err(PlanError::UnsupportedFormat { artifact: name, format: other.into() }),
        };
        out.push(Signable {
            key: format!("{}-{}", run.kind.lower(), run.uid()),
            payload,
            dsse,
            storage: cfg.storage.clone(),
            artifact: name,
        });
    }
    // Images are signed for TaskRuns only, as upstream does.
    if run.kind == RunKind::TaskRun && config.oci.signer != "none" && !config.oci.storage.is_empty() {
        if !artifacts.images.is_empty() {
            check_signer("oci", &config.oci.signer, config)?;
            check_storage("oci", &config.oci.storage)?;
        }
        for img in &artifacts.images {
            out.push(Signable {
                key: img.digest_hex().chars().take(12).collect(),
                payload: formats::simplesigning::payload(img),
                dsse: false,
                storage: config.oci.storage.clone(),
                artifact: "oci",
            });
        }
    }
    Ok(out)
}

fn check_signer(artifact: &'static str, signer: &str, config: &ChainsConfig) -> Result<(), PlanError> {
    match signer {
        "x509" if config.fulcio_enabled => Err(PlanError::Keyless),
        "x509" => Ok(()),
        other => Err(PlanError::UnsupportedSigner { artifact, signer: other.into() }),
    }
}

fn check_storage(artifact: &'static str, storage: &[String]) -> Result<(), PlanError> {
    match storage.iter().find(|s| !SUPPORTED_STORAGE.contains(&s.as_str())) {
        Some(b) => Err(PlanError::UnsupportedStorage { artifact, backend: b.clone() }),
        None => Ok(()),
    }
}

/// Signs every signable and returns the `tekton` storage annotations
/// (`payload-`, `signature-`, `cert-`, `chain-` per key, base64).
pub fn sign_into_annotations(signables: &[Signable], key: &SigningKey) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in signables {
        let signature = if s.dsse {
            let env = dsse::wrap(IN_TOTO_PAYLOAD_TYPE, &s.payload, |pae| key.sign(pae));
            serde_json::to_vec(&env).expect("envelope serializes")
        } else {
            key.sign(&s.payload)
        };
        if s.storage.iter().any(|b| b == "tekton") {
            out.insert(format!("{PREFIX}payload-{}", s.key), STANDARD.encode(&s.payload));
            out.insert(format!("{PREFIX}signature-{}", s.key), STANDARD.encode(&signature));
            out.insert(format!("{PREFIX}cert-{}", s.key), String::new());
            out.insert(format!("{PREFIX}chain-{}", s.key), String::new());
        }
    }
    out
}

/// True when the run is finished and not yet signed (nor given up on).
pub fn needs_signing(run: &Run) -> bool {
    run.finished().is_some() && !matches!(run.annotation(SIGNED), Some("true" | "failed"))
}

#[cfg(test)]
mod tests;
