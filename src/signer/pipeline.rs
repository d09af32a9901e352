//! The signing pipeline of one chains-config: payload → signature →
//! transparency log → storage backends → the annotations of the run's one
//! final patch.
//!
//! A [`Pipeline`] is built once per chains-config change: it resolves each
//! artifact type's signer and backends then, so a backend or signer this
//! release lacks is refused once (as an [`Error::Unsupported`]) instead of
//! being looked up per run. [`Pipeline::plan`] is pure; [`Pipeline::execute`]
//! does the signing and storing through the seams.

use std::sync::Arc;

use futures::StreamExt as _;
use futures::future::join_all;

use super::error::Error;
use crate::config::{Artifact, ArtifactConfig, ChainsConfig, Format, SignerKind, StorageKind, Transparency};
use crate::formats::{self, Artifacts, Run, RunKind};
use crate::signing::dsse::{self, IN_TOTO_PAYLOAD_TYPE};
use crate::signing::{Signed, Signer, Subject};
use crate::storage::{self, Annotations, Backend};
use crate::tekton::annotations::{TRANSPARENCY, TRANSPARENCY_UPLOAD};
use crate::transparency::TransparencyLog;
use crate::transparency::rekor::{self, Rekor};

/// The long-lived parts a pipeline is built from (they outlive config changes).
#[derive(Clone)]
pub struct Parts {
    /// The local key folder.
    pub x509: Arc<dyn Signer>,
    /// A transparency log that replaces Rekor (tests); `None` in production.
    pub log: Option<Arc<dyn TransparencyLog>>,
    /// What each config's Rekor client is built from.
    pub rekor: Option<Arc<rekor::Shared>>,
    /// What storage backends are built from.
    pub storage: storage::Parts,
}

/// How one artifact type is handled under the current config.
#[derive(Clone)]
enum Route {
    /// Not signed (`signer: none` or no storage).
    Off,
    On {
        signer: Arc<dyn Signer>,
        backends: Vec<Arc<dyn Backend>>,
    },
    /// The config asks for something this release lacks.
    Refused(Refusal),
}

/// A refused setting, kept as data so each run can be failed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub what: &'static str,
    pub key: String,
    pub value: String,
    pub supported: String,
}

impl Refusal {
    /// The error a run gets when it needs this artifact type.
    pub fn error(&self) -> Error {
        Error::Unsupported {
            what: self.what,
            key: self.key.clone(),
            value: self.value.clone(),
            supported: self.supported.clone(),
        }
    }
}

/// One payload to sign and store.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub artifact: Artifact,
    pub subject: Subject,
    /// Storage key: `taskrun-<uid>`, `pipelinerun-<uid>`, or 12 hex of an image digest.
    pub key: String,
    pub bytes: Vec<u8>,
    /// Signed inside a DSSE envelope (in-toto formats).
    pub dsse: bool,
}

/// What [`Pipeline::execute`] did for one run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Done {
    /// Annotations for the run's final patch (without `signed`).
    pub annotations: Annotations,
    /// Signatures made.
    pub signed: usize,
    /// Artifacts stored (one per artifact and backend).
    pub stored: usize,
    /// Transparency log entries made.
    pub uploaded: usize,
}

/// A run [`Pipeline::execute`] could not finish: the first error, and the
/// annotations of what did get stored (written with the failure, so a
/// backend that worked keeps its part).
#[derive(Debug)]
pub struct Failed {
    pub error: Error,
    pub annotations: Annotations,
}

/// Images one run may have signed: each costs a signature, pushes and a log
/// entry, and a run's results are the tenant's to write.
pub const MAX_IMAGES_PER_RUN: usize = 256;
/// Payloads of one run signed, logged and stored at once.
const FANOUT: usize = 8;

/// The signing pipeline of one chains-config.
#[derive(Clone)]
pub struct Pipeline {
    pub config: Arc<ChainsConfig>,
    taskrun: Route,
    pipelinerun: Route,
    oci: Route,
    log: Option<Arc<dyn TransparencyLog>>,
}

impl Pipeline {
    /// Resolves every artifact type's signer and backends for `config`.
    pub fn build(config: Arc<ChainsConfig>, parts: &Parts) -> Self {
        let run = |a: Artifact, c: &ArtifactConfig| route(a, c.signer, &c.storage, &config, parts);
        let taskrun = run(Artifact::TaskRun, &config.taskrun);
        let pipelinerun = run(Artifact::PipelineRun, &config.pipelinerun);
        let oci = route(Artifact::Oci, config.oci.signer, &config.oci.storage, &config, parts);
        let log = match config.transparency {
            Transparency::Off => None,
            Transparency::On | Transparency::Manual => parts.log.clone().or_else(|| {
                let shared = parts.rekor.clone()?;
                let rekor = Rekor::new(shared, &config.transparency_url, config.transparency_entry_kind);
                Some(Arc::new(rekor) as Arc<dyn TransparencyLog>)
            }),
        };
        Self { config, taskrun, pipelinerun, oci, log }
    }

    /// The signer of an artifact type whose payloads go to `tekton` storage
    /// (run annotations), for checking what a run already carries.
    pub fn tekton_signer(&self, a: Artifact) -> Option<Arc<dyn Signer>> {
        match self.route(a) {
            Route::On { signer, backends } if backends.iter().any(|b| b.kind() == StorageKind::Tekton) => {
                Some(signer.clone())
            }
            _ => None,
        }
    }

    /// Settings of this config that runs will be refused for.
    pub fn refusals(&self) -> Vec<Refusal> {
        [&self.taskrun, &self.pipelinerun, &self.oci]
            .into_iter()
            .filter_map(|r| match r {
                Route::Refused(x) => Some(x.clone()),
                _ => None,
            })
            .collect()
    }

    fn route(&self, a: Artifact) -> &Route {
        match a {
            Artifact::TaskRun => &self.taskrun,
            Artifact::PipelineRun => &self.pipelinerun,
            Artifact::Oci => &self.oci,
        }
    }

    /// The payloads to sign for a finished run (pure). `artifacts` are the
    /// run's own type-hinted results; `children` a PipelineRun's finished
    /// child TaskRuns (deep inspection).
    pub fn plan(
        &self,
        run: &Run,
        artifacts: &Artifacts,
        children: &[serde_json::Value],
    ) -> Result<Vec<Payload>, Error> {
        let config = &self.config;
        let artifact = Artifact::from(run.kind);
        let mut out = Vec::new();
        match self.route(artifact) {
            Route::Off => {}
            Route::Refused(r) => return Err(r.error()),
            Route::On { .. } => {
                let format = config.for_run(run.kind).format;
                let bytes = match format {
                    Format::Tekton => formats::tekton(run),
                    Format::InToto => formats::slsa02::statement(run, config, artifacts, children),
                    Format::SlsaV2Alpha3 | Format::SlsaV2Alpha4 => {
                        formats::slsa1::statement(run, config, artifacts, children, format.as_str())
                    }
                };
                let key = format!("{}-{}", run.kind.lower(), run.uid());
                out.push(Payload { artifact, subject: Subject::Run, key, bytes, dsse: format.is_in_toto() });
            }
        }
        // Images are signed for TaskRuns only, as upstream does.
        if run.kind == RunKind::TaskRun && !artifacts.images.is_empty() {
            match self.route(Artifact::Oci) {
                Route::Off => {}
                Route::Refused(r) => return Err(r.error()),
                Route::On { .. } if artifacts.images.len() > MAX_IMAGES_PER_RUN => {
                    let run = format!("{} {}/{}", run.kind.kind(), run.namespace(), run.name());
                    return Err(Error::TooManyImages { run, count: artifacts.images.len(), max: MAX_IMAGES_PER_RUN });
                }
                Route::On { .. } => out.extend(artifacts.images.iter().map(|img| Payload {
                    artifact: Artifact::Oci,
                    subject: Subject::Image(img.clone()),
                    key: img.digest_hex().chars().take(12).collect(),
                    bytes: formats::simplesigning::payload(img),
                    dsse: false,
                })),
            }
        }
        Ok(out)
    }

    /// Signs, logs and stores every payload, concurrently. A run is done
    /// only when every payload reached every backend; otherwise the first
    /// error comes back with the annotations that were stored.
    pub async fn execute(&self, run: &Run<'_>, payloads: Vec<Payload>) -> Result<Done, Box<Failed>> {
        let upload = self.log.as_ref().filter(|_| match self.config.transparency {
            Transparency::Off => false,
            Transparency::On => true,
            Transparency::Manual => run.annotation(TRANSPARENCY_UPLOAD) == Some("true"),
        });
        let futures: Vec<_> = payloads.into_iter().map(|p| self.one(run, p, upload)).collect();
        let results: Vec<OneResult> = futures::stream::iter(futures).buffer_unordered(FANOUT).collect().await;
        let mut done = Done::default();
        let mut error = None;
        for r in results {
            done.annotations.extend(r.annotations);
            done.stored += r.stored;
            done.uploaded += r.uploaded as usize;
            match r.error {
                None => done.signed += 1,
                Some(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        match error {
            None => Ok(done),
            Some(error) => Err(Box::new(Failed { error, annotations: done.annotations })),
        }
    }

    /// One payload through signer → log → backends; every backend is tried
    /// even when another fails.
    async fn one(&self, run: &Run<'_>, p: Payload, log: Option<&Arc<dyn TransparencyLog>>) -> OneResult {
        let mut out = OneResult::default();
        let Route::On { signer, backends } = self.route(p.artifact) else {
            // plan only yields payloads of enabled artifact types.
            out.error = Some(Error::Internal { run: p.key, message: "a payload of a disabled artifact type".into() });
            return out;
        };
        let subject = match &p.subject {
            Subject::Run => p.key.clone(),
            Subject::Image(img) => format!("{}@{}", img.repo, img.digest),
        };
        let key_error = |source| Error::Key { artifact: p.artifact, source };
        let signed = if p.dsse {
            signer.sign(&dsse::pae(IN_TOTO_PAYLOAD_TYPE, &p.bytes)).await.map(|sig| {
                let env = dsse::envelope(IN_TOTO_PAYLOAD_TYPE, &p.bytes, &sig.bytes);
                (sig, Some(env))
            })
        } else {
            signer.sign(&p.bytes).await.map(|sig| (sig, None))
        };
        let (signature, envelope) = match signed {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(key_error(e));
                return out;
            }
        };
        let mut signed = Signed {
            artifact: p.artifact,
            subject: p.subject,
            key: p.key,
            payload: p.bytes,
            signature: signature.bytes,
            envelope,
            verifier: signature.verifier,
            log_entry: None,
        };
        if let Some(log) = log {
            match log.upload(&signed).await {
                Ok(entry) => {
                    if signed.subject == Subject::Run {
                        out.annotations.insert(TRANSPARENCY.into(), entry.url.clone());
                    }
                    signed.log_entry = Some(entry);
                    out.uploaded = true;
                }
                Err(source) => {
                    out.error = Some(Error::Transparency { artifact: signed.artifact, subject, source });
                    return out;
                }
            }
        }
        let stored = join_all(backends.iter().map(|b| b.store(run, &signed))).await;
        for (b, r) in backends.iter().zip(stored) {
            match r {
                Ok(a) => {
                    out.annotations.extend(a);
                    out.stored += 1;
                }
                Err(source) => {
                    out.error.get_or_insert(Error::Storage {
                        artifact: signed.artifact,
                        subject: subject.clone(),
                        backend: b.kind(),
                        source,
                    });
                }
            }
        }
        out
    }
}

/// What happened to one payload.
#[derive(Default)]
struct OneResult {
    annotations: Annotations,
    stored: usize,
    uploaded: bool,
    error: Option<Error>,
}

/// How `oci` storage encodes attestations; only `dsse` (the default) is built.
const OCI_ENCODING: &str = "storage.oci.encoding-format";

/// Resolves one artifact type's signer and backends.
fn route(a: Artifact, signer: SignerKind, storage: &[StorageKind], config: &ChainsConfig, parts: &Parts) -> Route {
    if signer == SignerKind::None || storage.is_empty() {
        return Route::Off;
    }
    let signer = match signer {
        SignerKind::X509 if config.fulcio_enabled => {
            return Route::Refused(Refusal {
                what: "keyless signing",
                key: "signers.x509.fulcio.enabled".into(),
                value: "true".into(),
                supported: "a key in signing-secrets (x509.pem, or cosign.key with cosign.password)".into(),
            });
        }
        SignerKind::X509 => parts.x509.clone(),
        other => {
            return Route::Refused(Refusal {
                what: "signer",
                key: a.key("signer"),
                value: other.to_string(),
                supported: "\"x509\" with x509.pem or cosign.key, \"none\"".into(),
            });
        }
    };
    let mut backends = Vec::new();
    for kind in storage {
        let encoding = config.values.get(OCI_ENCODING).map_or("dsse", String::as_str);
        if *kind == StorageKind::Oci && encoding != "dsse" {
            return Route::Refused(Refusal {
                what: "OCI encoding format",
                key: OCI_ENCODING.into(),
                value: encoding.into(),
                supported: "\"dsse\"".into(),
            });
        }
        match storage::build(*kind, config, &parts.storage) {
            Ok(b) => backends.push(b),
            Err(storage::NotBuilt(kind)) => {
                let supported = storage::BUILT.iter().map(|k| format!("{:?}", k.as_str())).collect::<Vec<_>>();
                return Route::Refused(Refusal {
                    what: "storage backend",
                    key: a.key("storage"),
                    value: kind.to_string(),
                    supported: supported.join(", "),
                });
            }
        }
    }
    Route::On { signer, backends }
}

#[cfg(test)]
mod tests;
