//! The signing pipeline of one chains-config: payload → signature →
//! transparency log → storage backends → the annotations of the run's one
//! final patch.
//!
//! A [`Pipeline`] is built once per chains-config change: it resolves each
//! artifact type's signer and backends then, so a backend or signer this
//! release lacks is refused once (as an [`Error::Unsupported`]) instead of
//! being looked up per run. [`Pipeline::plan`] is pure; [`Pipeline::execute`]
//! does the signing and storing through the seams.

mod progress;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::future::join_all;

use super::error::Error;
use crate::config::{Artifact, ArtifactConfig, ChainsConfig, Format, SignerKind, StorageKind, Transparency};
use crate::formats::{self, Artifacts, Run, RunKind};
use crate::seam::{BackendFailure, Env, Unsupported};
use crate::signing::dsse::{self, IN_TOTO_PAYLOAD_TYPE};
use crate::signing::{self, Signed, Signer, Signers, Subject};
use crate::storage::{self, Annotations, Backend, Backends};
use crate::tekton::annotations::{TRANSPARENCY, TRANSPARENCY_UPLOAD};
use crate::transparency::{self, Logs, TransparencyLog};

/// The long-lived parts a pipeline is built from (they outlive config
/// changes): one registry of factories per seam.
#[derive(Clone)]
pub struct Parts {
    pub signers: Arc<Signers>,
    pub storage: Arc<Backends>,
    pub logs: Arc<Logs>,
    /// `signer_storage_failures_total`, by backend and reason.
    pub storage_failures:
        prometheus_client::metrics::family::Family<BackendFailure, prometheus_client::metrics::counter::Counter>,
}

impl Parts {
    /// Every factory of every seam the environment can serve.
    pub fn prepare(env: &Env) -> Self {
        Self {
            signers: Arc::new(Signers::prepare(signing::SIGNERS, env)),
            storage: Arc::new(Backends::prepare(storage::BACKENDS, env)),
            logs: Arc::new(Logs::prepare(transparency::LOGS, env)),
            storage_failures: env.storage_failures.clone(),
        }
    }

    /// Lets every factory look at its inputs again (the key folder).
    pub fn refresh(&self) {
        self.signers.refresh();
        self.storage.refresh();
        self.logs.refresh();
    }
}

/// How one artifact type is handled under the current config.
#[derive(Clone)]
enum Route {
    /// Not signed (`signer: none` or no storage).
    Off,
    On {
        signer: Arc<dyn Signer>,
        /// Each backend with its registry name.
        backends: Vec<(&'static str, Arc<dyn Backend>)>,
    },
    /// The config asks for something this release lacks.
    Refused(Refusal),
}

/// A refused setting, kept as data so each run can be failed with it.
pub type Refusal = Unsupported;

/// The error a run gets when it needs a refused artifact type.
pub fn refused(r: &Refusal) -> Error {
    Error::Unsupported { what: r.what, key: r.key.clone(), value: r.value.clone(), supported: r.supported.clone() }
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
    storage_failures:
        prometheus_client::metrics::family::Family<BackendFailure, prometheus_client::metrics::counter::Counter>,
    /// What failed attempts got done (their retries do only the rest).
    progress: Arc<progress::Ledger>,
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
            Transparency::On | Transparency::Manual => match parts.logs.build(&config.log) {
                Some(Ok((_, log))) => Some(log),
                Some(Err(_)) | None => None,
            },
        };
        let storage_failures = parts.storage_failures.clone();
        Self { config, taskrun, pipelinerun, oci, log, storage_failures, progress: Default::default() }
    }

    /// The signer of an artifact type whose payloads go to `tekton` storage
    /// (run annotations), for checking what a run already carries.
    pub fn tekton_signer(&self, a: Artifact) -> Option<Arc<dyn Signer>> {
        match self.route(a) {
            Route::On { signer, backends }
                if backends.iter().any(|(name, _)| *name == StorageKind::Tekton.as_str()) =>
            {
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
            Route::Refused(r) => return Err(refused(r)),
            Route::On { .. } => {
                let format = config.for_run(run.kind).format;
                let bytes = match format {
                    Format::Tekton => formats::tekton(run),
                    Format::InToto => formats::slsa02::statement(run, config, artifacts, children),
                    Format::SlsaV2Alpha3 | Format::SlsaV2Alpha4 => {
                        formats::slsa1::statement(run, config, artifacts, children, format)
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
                Route::Refused(r) => return Err(refused(r)),
                Route::On { .. } if artifacts.images.len() > MAX_IMAGES_PER_RUN => {
                    let run = format!("{} {}/{}", run.kind.kind(), run.namespace(), run.name());
                    return Err(Error::TooManyImages { run, count: artifacts.images.len(), max: MAX_IMAGES_PER_RUN });
                }
                Route::On { .. } => {
                    // In the sigstore bundle format an image's signature is
                    // cosign v3's: a DSSE statement about the image.
                    let bundle = self.config.oci_bundles();
                    out.extend(artifacts.images.iter().map(|img| Payload {
                        artifact: Artifact::Oci,
                        subject: Subject::Image(img.clone()),
                        key: img.digest_hex().chars().take(12).collect(),
                        bytes: match bundle {
                            true => formats::simplesigning::cosign_sign_statement(img),
                            false => formats::simplesigning::payload(img),
                        },
                        dsse: bundle,
                    }))
                }
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
            None => {
                self.progress.forget(run.uid());
                Ok(done)
            }
            Some(error) => Err(Box::new(Failed { error, annotations: done.annotations })),
        }
    }

    /// One payload through signer → log → backends; every backend is tried
    /// even when another fails. A retry reuses what an earlier attempt
    /// signed and logged, and skips the backends that stored it (`tekton`,
    /// which only adds to the run's patch, always runs).
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
        let (signed, mut stored) = match self.progress.get(run.uid(), &p.key, &p.bytes) {
            Some(earlier) => {
                if let (Subject::Run, Some(entry)) = (&earlier.signed.subject, &earlier.signed.log_entry) {
                    out.annotations.insert(TRANSPARENCY.into(), entry.url.clone());
                }
                (earlier.signed, earlier.stored)
            }
            None => match self.sign_and_log(p, signer, log, &subject, &mut out).await {
                Some(signed) => (Arc::new(signed), BTreeSet::new()),
                None => return out,
            },
        };
        let tekton = StorageKind::Tekton.as_str();
        let todo: Vec<_> = backends.iter().filter(|(name, _)| *name == tekton || !stored.contains(name)).collect();
        let results = join_all(todo.iter().map(|(_, b)| b.store(run, &signed))).await;
        for ((backend, _), r) in todo.into_iter().zip(results) {
            match r {
                Ok(a) => {
                    out.annotations.extend(a);
                    out.stored += 1;
                    stored.insert(backend);
                }
                Err(source) => {
                    let labels = BackendFailure { backend, reason: source.metric_label() };
                    self.storage_failures.get_or_create(&labels).inc();
                    out.error.get_or_insert(Error::Storage {
                        artifact: signed.artifact,
                        subject: subject.clone(),
                        backend,
                        source,
                    });
                }
            }
        }
        self.progress.record(run.uid(), &signed, stored);
        out
    }

    /// Signs `p` and uploads it to the log (when on); `None` (with the
    /// error in `out`) when either failed.
    async fn sign_and_log(
        &self,
        p: Payload,
        signer: &Arc<dyn Signer>,
        log: Option<&Arc<dyn TransparencyLog>>,
        subject: &str,
        out: &mut OneResult,
    ) -> Option<Signed> {
        let sign_error = |source| Error::Sign { artifact: p.artifact, source };
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
                out.error = Some(sign_error(e));
                return None;
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
                    out.error =
                        Some(Error::Transparency { artifact: signed.artifact, subject: subject.into(), source });
                    return None;
                }
            }
        }
        Some(signed)
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

/// Resolves one artifact type's signer and backends through the registries.
fn route(a: Artifact, signer: SignerKind, storage: &[StorageKind], config: &ChainsConfig, parts: &Parts) -> Route {
    let Some(identity) = config.identity(signer).filter(|_| !storage.is_empty()) else {
        return Route::Off;
    };
    let signer = match parts.signers.build(&identity) {
        Some(Ok((_, signer))) => signer,
        Some(Err(refusal)) => return Route::Refused(refusal),
        None => {
            let (what, key, value) = match identity {
                crate::config::SigningIdentity::Keyless { .. } => (
                    "keyless signing",
                    crate::config::keys::name::signers_x509_fulcio_enabled.to_string(),
                    "true".into(),
                ),
                crate::config::SigningIdentity::Kms { kmsref, .. } => {
                    // The KMS signers are the factories other than the key folder and Fulcio.
                    let (x509, keyless) = (SignerKind::X509.as_str(), crate::signing::KEYLESS);
                    let schemes: Vec<String> = parts
                        .signers
                        .names()
                        .into_iter()
                        .filter(|n| *n != x509 && *n != keyless)
                        .map(|n| format!("\"{n}://…\""))
                        .collect();
                    let key = crate::config::keys::name::signers_kms_kmsref.to_string();
                    let supported = if schemes.is_empty() { "none yet".into() } else { schemes.join(", ") };
                    return Route::Refused(Refusal { what: "KMS", key, value: kmsref, supported });
                }
                _ => ("signer", a.key("signer"), signer.to_string()),
            };
            let mut supported = parts.signers.supported();
            supported.push_str(&format!(", {:?}", SignerKind::None.as_str()));
            return Route::Refused(Refusal { what, key, value, supported });
        }
    };
    let mut backends = Vec::new();
    for kind in storage {
        match config.backend(*kind).and_then(|section| parts.storage.build(section)) {
            Some(Ok(named)) => backends.push(named),
            Some(Err(refusal)) => return Route::Refused(refusal),
            None => {
                return Route::Refused(Refusal {
                    what: "storage backend",
                    key: a.key("storage"),
                    value: kind.to_string(),
                    supported: parts.storage.supported(),
                });
            }
        }
    }
    Route::On { signer, backends }
}

#[cfg(test)]
mod tests;
