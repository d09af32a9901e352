//! The `Backend` seam: where signed artifacts are stored. A backend stores
//! one [`Signed`] artifact and returns the annotations it adds to the run's
//! single final patch. Each backend is one module with a factory, listed
//! once in [`BACKENDS`]: `tekton` (annotations on the run), `oci` (the
//! image's registry), `gcs` (a Google Cloud Storage bucket), `docdb`
//! (a MongoDB, DynamoDB or Firestore collection), `grafeas` (Grafeas
//! occurrences, Container Analysis), `kafka` (a Kafka topic) and
//! `archivista` (an Archivista server).

pub mod archivista;
pub mod docdb;
pub mod gcs;
pub mod grafeas;
pub mod kafka;
pub mod oci;
mod tekton;

use std::collections::BTreeMap;

pub use oci::Oci;
pub use tekton::Tekton;

use crate::config::Storage;
use crate::formats::Run;
use crate::remote::RemoteError;
use crate::seam::{Maker, Registry};
use crate::signing::Signed;

/// Annotations a backend adds to the run's final patch.
pub type Annotations = BTreeMap<String, String>;

/// Stores signed artifacts somewhere.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Stores one signed artifact of `run`; returns the annotations to add.
    async fn store(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError>;
}

/// The storage backends' registry.
pub type Backends = Registry<Storage, dyn Backend>;

/// Every storage backend this release has: one line each.
pub const BACKENDS: &[Maker<Storage, dyn Backend>] = &[
    tekton::factory,
    oci::factory,
    gcs::factory,
    docdb::factory,
    grafeas::factory,
    kafka::factory,
    archivista::factory,
];
