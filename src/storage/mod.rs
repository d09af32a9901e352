//! The `Backend` seam: where signed artifacts are stored. A backend stores
//! one [`Signed`] artifact and returns the annotations it adds to the run's
//! single final patch. `tekton` (annotations on the run) and `oci` (the
//! image's registry) are built; `gcs`, `grafeas` and `docdb` come later,
//! one module each plus one arm in [`build`].

pub mod oci;
mod tekton;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use oci::Oci;
pub use tekton::Tekton;

use crate::config::{ChainsConfig, StorageKind};
use crate::formats::Run;
use crate::signing::Signed;

/// Annotations a backend adds to the run's final patch.
pub type Annotations = BTreeMap<String, String>;

/// Stores signed artifacts somewhere.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Which `artifacts.*.storage` word this is.
    fn kind(&self) -> StorageKind;

    /// Stores one signed artifact of `run`; returns the annotations to add.
    async fn store(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, StorageError>;
}

/// A backend that could not store an artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {message}")]
pub struct StorageError {
    /// Where it was going (registry/repository, bucket, URL).
    pub target: String,
    /// What went wrong; never a credential.
    pub message: String,
    /// The remote's HTTP status, when there was one.
    pub status: Option<u16>,
    /// Whether trying again later can help.
    pub retryable: bool,
    /// The remote could not be reached, or answered 5xx/408/429: it may
    /// just be down for a while (retried for longer than other failures).
    pub unavailable: bool,
}

/// A backend this release does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBuilt(pub StorageKind);

/// The long-lived parts backends are built from (they outlive config changes).
#[derive(Clone, Default)]
pub struct Parts {
    /// Registry clients and ServiceAccount credentials, for `oci`.
    pub oci: Option<Arc<oci::Shared>>,
}

/// Backends this release has.
pub const BUILT: &[StorageKind] = &[StorageKind::Tekton, StorageKind::Oci];

/// Builds the backend for `kind` under `config` (once per config change).
pub fn build(kind: StorageKind, config: &ChainsConfig, parts: &Parts) -> Result<Arc<dyn Backend>, NotBuilt> {
    match kind {
        StorageKind::Tekton => Ok(Arc::new(Tekton)),
        StorageKind::Oci => match &parts.oci {
            Some(shared) => Ok(Arc::new(Oci::new(shared.clone(), config))),
            None => Err(NotBuilt(kind)),
        },
        StorageKind::Gcs | StorageKind::DocDb | StorageKind::Grafeas | StorageKind::Kafka | StorageKind::Archivista => {
            Err(NotBuilt(kind))
        }
    }
}
