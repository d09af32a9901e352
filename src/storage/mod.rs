//! The `Backend` seam: where signed artifacts are stored. A backend stores
//! one [`Signed`] artifact and returns the annotations it adds to the run's
//! single final patch. `tekton` (annotations on the run) is the first one;
//! `oci`, `gcs`, `grafeas` and `docdb` come later, one file each plus one
//! arm in [`build`].

mod tekton;

use std::collections::BTreeMap;
use std::sync::Arc;

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
}

/// A backend this release does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBuilt(pub StorageKind);

/// Backends this release has (for messages): those [`build`] can build.
pub fn built() -> Vec<StorageKind> {
    let config = ChainsConfig::default();
    StorageKind::ALL.iter().copied().filter(|k| build(*k, &config).is_ok()).collect()
}

/// Builds the backend for `kind` under `config` (once per config change).
pub fn build(kind: StorageKind, _config: &ChainsConfig) -> Result<Arc<dyn Backend>, NotBuilt> {
    match kind {
        StorageKind::Tekton => Ok(Arc::new(Tekton)),
        StorageKind::Oci
        | StorageKind::Gcs
        | StorageKind::DocDb
        | StorageKind::Grafeas
        | StorageKind::Kafka
        | StorageKind::Archivista => Err(NotBuilt(kind)),
    }
}
