//! `oci` storage: signatures and attestations next to the image in its
//! registry, in cosign's layout, so `cosign verify` and
//! `cosign verify-attestation` find them.
//!
//! - a simplesigning signature of an image goes to `<repo>:sha256-<hex>.sig`;
//! - an in-toto attestation (TaskRun or PipelineRun) goes to
//!   `<repo>:sha256-<hex>.att` of every image among its subjects;
//! - `storage.oci.repository` sends both to another repository;
//! - layers are appended, never replaced;
//! - with `storage.oci.encoding-format: sigstore-bundle` both are sigstore
//!   bundles attached as OCI 1.1 referrers of the image instead ([`bundle`]);
//! - credentials come from the run's ServiceAccount ([`secrets`]), each
//!   matching one tried until a push succeeds.

pub mod auth;
pub mod bundle;
pub mod distribution;
pub mod layout;
pub mod registry;
pub mod secrets;

use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _, stream};
use tracing::debug;

use self::layout::{Layer, Tag};
use self::registry::{Appended, Referrer, Registries};
use self::secrets::Secrets;
use super::{Annotations, Backend};
use crate::config::{OciEncoding, Storage, StorageKind};
use crate::formats::simplesigning::COSIGN_SIGN_PREDICATE;
use crate::formats::{Image, Run, RunKind, artifacts};
use crate::remote::RemoteError;
use crate::seam::{Env, Factory, Unsupported};
use crate::signing::{Signed, Subject};

/// Pushes of one artifact in flight at once.
const PUSH_CONCURRENCY: usize = 4;

/// The long-lived parts every `oci` backend shares (they outlive config changes).
pub struct Shared {
    pub registries: Registries,
    pub secrets: Secrets,
    /// The signer's own ServiceAccount (namespace, name): its credentials
    /// are tried after the run's.
    pub own: Option<(String, String)>,
}

/// The `oci` backend under one chains-config.
pub struct Oci {
    shared: Arc<Shared>,
    /// `storage.oci.repository`, normalised; empty: next to each image.
    repository: String,
    /// `storage.oci.repository.insecure`: for that repository's registry only.
    insecure: bool,
    /// `storage.oci.encoding-format`.
    encoding: OciEncoding,
}

/// One write to a registry.
#[derive(Debug, Clone, Copy)]
enum Write<'a> {
    /// Append a layer to a cosign tag.
    Layer(&'a Layer),
    /// Attach a bundle to the image with this digest.
    Referrer(&'a str, &'a Referrer),
}

/// Where one layer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub insecure: bool,
}

impl Target {
    /// `tag` in `repo` (`registry/repository`).
    fn at(repo: &str, tag: String, insecure: bool) -> Self {
        let (registry, repository) = repo.split_once('/').unwrap_or((repo, ""));
        Self { registry: registry.to_string(), repository: repository.to_string(), tag, insecure }
    }
}

impl Oci {
    /// The backend for `storage.oci.repository` (empty: next to each image).
    pub fn new(shared: Arc<Shared>, repository: &str, insecure: bool, encoding: OciEncoding) -> Self {
        let repository = match repository.trim() {
            "" => String::new(),
            r => artifacts::normalize_repo(r),
        };
        Self { shared, repository, insecure, encoding }
    }

    /// Where the bundle referrers of `image` go (pure): its own repository
    /// (a referrer lives beside its subject), tag `sha256-<hex>`.
    pub fn referrer_target(image: &Image) -> Target {
        Target::at(&image.repo, bundle::referrers_tag(&image.digest), false)
    }

    async fn write(
        &self,
        target: &Target,
        cred: Option<&auth::Credential>,
        w: Write<'_>,
    ) -> Result<Appended, RemoteError> {
        match w {
            Write::Layer(layer) => self.shared.registries.append(target, cred, layer).await,
            Write::Referrer(subject, r) => self.shared.registries.attach(target, subject, cred, r).await,
        }
    }

    /// Where `tag` of `image` goes (pure).
    pub fn target(&self, image: &Image, tag: Tag) -> Target {
        let (repo, insecure) = match self.repository.as_str() {
            "" => (image.repo.as_str(), false),
            r => (r, self.insecure),
        };
        Target::at(repo, tag.for_digest(&image.digest), insecure)
    }

    /// Appends `layer` at `target`, trying each credential of the run's
    /// ServiceAccount that matches the registry, then each of the signer's
    /// own ServiceAccount (as seed 003 patches `tekton-chains-controller`),
    /// and anonymously when none matches. The signer's own credentials are
    /// read only when the run's did not push.
    async fn push(&self, run: &Run<'_>, target: &Target, w: Write<'_>) -> Result<Appended, RemoteError> {
        let account = service_account(run);
        let own = self.shared.own.as_ref().filter(|(ns, name)| !(ns == run.namespace() && name == account));
        let accounts =
            std::iter::once((run.namespace(), account)).chain(own.map(|(ns, name)| (ns.as_str(), name.as_str())));
        let mut tried: Vec<String> = Vec::new();
        let mut last = None;
        for (ns, name) in accounts {
            let creds = self.shared.secrets.for_account(ns, name).await?;
            for cred in auth::matching(&creds, &target.registry) {
                tried.push(cred.secret.clone());
                match self.write(target, Some(cred), w).await {
                    Ok(done) => return Ok(done),
                    Err(e) if e.is_auth() => {
                        debug!(registry = %target.registry, secret = %cred.secret, status = ?e.status, "credential refused; trying the next");
                        last = Some(e);
                    }
                    Err(e) => return Err(refused(target, account, own, &tried, e)),
                }
            }
        }
        let e = match last {
            Some(e) => e,
            None => match self.write(target, None, w).await {
                Ok(done) => return Ok(done),
                Err(e) => e,
            },
        };
        Err(refused(target, account, own, &tried, e))
    }
}

/// The ServiceAccount a run's pods use: TaskRun `spec.serviceAccountName`,
/// PipelineRun `spec.taskRunTemplate.serviceAccountName`, else `default`.
pub fn service_account<'a>(run: &Run<'a>) -> &'a str {
    let spec = &run.obj["spec"];
    let name = match run.kind {
        RunKind::TaskRun => spec["serviceAccountName"].as_str(),
        RunKind::PipelineRun => spec["taskRunTemplate"]["serviceAccountName"].as_str(),
    };
    name.filter(|n| !n.is_empty()).unwrap_or("default")
}

fn refused(
    target: &Target,
    account: &str,
    own: Option<&(String, String)>,
    tried: &[String],
    e: RemoteError,
) -> RemoteError {
    let fallback = match own {
        Some((ns, name)) => format!(" or ServiceAccount {ns}/{name}"),
        None => String::new(),
    };
    let tried = match tried {
        [] => format!("anonymously (ServiceAccount {account}{fallback} has no credentials for {})", target.registry),
        c => {
            format!("with the credentials of Secret(s) {} of ServiceAccount {account}{fallback}", c.join(", "))
        }
    };
    RemoteError {
        target: format!("registry {}, repository {}", target.registry, target.repository),
        message: format!("pushing {} {tried}: {}", target.tag, e.message),
        status: e.status,
        retryable: true,
        unavailable: e.unavailable,
    }
}

/// The images among an in-toto statement's subjects, and its predicate type (pure).
pub fn statement_images(payload: &[u8]) -> (String, Vec<Image>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else { return (String::new(), Vec::new()) };
    let predicate_type = v["predicateType"].as_str().unwrap_or_default().to_string();
    let mut images: Vec<Image> = Vec::new();
    for s in v["subject"].as_array().into_iter().flatten() {
        let (Some(name), Some(hex)) = (s["name"].as_str(), s["digest"]["sha256"].as_str()) else { continue };
        if let Ok(img) = artifacts::image(name, &format!("sha256:{hex}"))
            && !images.contains(&img)
        {
            images.push(img);
        }
    }
    (predicate_type, images)
}

#[async_trait::async_trait]
impl Backend for Oci {
    async fn store(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        if self.encoding == OciEncoding::SigstoreBundle {
            return self.store_bundles(run, signed).await;
        }
        let pushes: Vec<(Target, Layer)> = match (&signed.subject, &signed.envelope) {
            (Subject::Image(img), None) => vec![(self.target(img, Tag::Signature), Layer::signature(signed))],
            (Subject::Run, Some(_)) => {
                let (predicate_type, images) = statement_images(&signed.payload);
                let layer = Layer::attestation(signed, &predicate_type);
                images.iter().map(|img| (self.target(img, Tag::Attestation), layer.clone())).collect()
            }
            // A `tekton`-format payload has no image to go next to (upstream skips it too).
            _ => Vec::new(),
        };
        // A few pushes at a time: a run may name many images.
        let futures: Vec<_> = pushes.iter().map(|(t, l)| self.push(run, t, Write::Layer(l))).collect();
        stream::iter(futures).buffer_unordered(PUSH_CONCURRENCY).try_collect::<Vec<_>>().await?;
        Ok(Annotations::new())
    }
}

impl Oci {
    /// The sigstore bundle format: the bundle of a DSSE-signed artifact is
    /// attached to each image it is about (the image itself for an image
    /// signature, the statement's subjects for an attestation).
    async fn store_bundles(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let Some(bundle) = bundle::sigstore_bundle(signed) else {
            // A raw signature (a `tekton`-format payload): nothing to attach.
            return Ok(Annotations::new());
        };
        let (predicate_type, images) = match &signed.subject {
            Subject::Image(img) => (COSIGN_SIGN_PREDICATE.to_string(), vec![img.clone()]),
            Subject::Run => statement_images(&signed.payload),
        };
        let created = run.obj["status"]["completionTime"].as_str();
        let referrer = Referrer { bundle, annotations: bundle::annotations(&predicate_type, created) };
        let targets: Vec<(Target, &Image)> = images.iter().map(|img| (Self::referrer_target(img), img)).collect();
        let futures: Vec<_> =
            targets.iter().map(|(t, img)| self.push(run, t, Write::Referrer(img.digest.as_str(), &referrer))).collect();
        stream::iter(futures).buffer_unordered(PUSH_CONCURRENCY).try_collect::<Vec<_>>().await?;
        Ok(Annotations::new())
    }
}

/// Makes the `oci` factory: registry clients and the credential reader,
/// shared by every config's backend; it needs an API client.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let client = env.client.clone()?;
    let shared = Shared {
        registries: Registries::new(env.registry_roots.clone(), env.registry_pushes.clone(), env.http_timeout),
        secrets: Secrets::new(client, env.secret_reads.clone()),
        own: env.own_account.clone(),
    };
    Some(Arc::new(Arc::new(shared)))
}

impl Factory<Storage, dyn Backend> for Arc<Shared> {
    fn name(&self) -> &'static str {
        StorageKind::Oci.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::Oci { repository, insecure, encoding } = section else { return None };
        if *encoding == OciEncoding::SigstoreBundle && !repository.trim().is_empty() {
            // As upstream: a referrer lives beside its subject.
            tracing::warn!(
                repository = %repository.trim(),
                "storage.oci.repository is ignored with storage.oci.encoding-format sigstore-bundle: \
                 bundles are attached as OCI 1.1 referrers in each image's own repository"
            );
        }
        Some(Ok(Arc::new(Oci::new(self.clone(), repository, *insecure, *encoding))))
    }
}

#[cfg(test)]
mod tests;
