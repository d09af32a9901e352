//! The seams' registries: each seam (storage backends, signing identities,
//! transparency logs) has one list of factories. A factory is made once
//! per process from the [`Env`] (clients, counters) and builds its part for
//! each config section it serves. Adding a backend or a signer is its own
//! file plus one line in its seam's list; names (config words and metric
//! labels) come from the factories, never from match arms elsewhere.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Labels of `signer_storage_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendFailure {
    /// The backend's factory name (`tekton`, `oci`, …).
    pub backend: &'static str,
    /// The error's metric label (`unreachable`, `denied`, …).
    pub reason: &'static str,
}

/// Labels of `signer_storage_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendLabel {
    /// The backend's factory name (`gcs`, …).
    pub backend: &'static str,
}

/// What factories are made from: the long-lived clients and counters.
#[derive(Clone, Default)]
pub struct Env {
    /// The API server (registry credentials); `None` in pure tests.
    pub client: Option<kube::Client>,
    /// Extra CAs (PEM) trusted for registries.
    pub registry_roots: Option<Vec<u8>>,
    /// One request's timeout towards any remote.
    pub http_timeout: Option<Duration>,
    /// The signer's own ServiceAccount (namespace, name), whose registry
    /// credentials back up a run's.
    pub own_account: Option<(String, String)>,
    /// The key folder (`--signing-secrets-dir`).
    pub signing_secrets_dir: PathBuf,
    pub secret_reads: Counter,
    pub registry_pushes: Counter,
    pub transparency_requests: Counter,
    /// HTTP requests to KMS servers (signatures, key fetches, logins).
    pub kms_requests: Counter,
    /// Certificate requests to Fulcio.
    pub fulcio_requests: Counter,
    /// Storage failures by backend and reason.
    pub storage_failures: Family<BackendFailure, Counter>,
    /// Requests to storage backends other than `tekton` and `oci` (whose
    /// writes are the run's patch and `registry_pushes`), by backend.
    pub storage_requests: Family<BackendLabel, Counter>,
}

/// A setting this release cannot serve, kept as data so each run that
/// needs it can be failed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub what: &'static str,
    pub key: String,
    pub value: String,
    pub supported: String,
}

/// One implementation of a seam, made once per process.
pub trait Factory<S: ?Sized, T: ?Sized>: Send + Sync {
    /// Its config word and metric label.
    fn name(&self) -> &'static str;
    /// Builds the part for `section`: `None` when the section is not this
    /// factory's, `Err` when it is but asks for what is not built.
    fn build(&self, section: &S) -> Option<Result<Arc<T>, Unsupported>>;
    /// Called every `--key-refresh` (the key folder looks at its files).
    fn refresh(&self) {}
}

/// Makes a factory from the environment; `None` when the environment
/// lacks what it needs (no API client for `oci`).
pub type Maker<S, T> = fn(&Env) -> Option<Arc<dyn Factory<S, T>>>;

/// The factories of one seam.
pub struct Registry<S: ?Sized, T: ?Sized> {
    factories: Vec<Arc<dyn Factory<S, T>>>,
}

impl<S: ?Sized, T: ?Sized> Registry<S, T> {
    /// Makes every factory of `makers` the environment can serve.
    pub fn prepare(makers: &[Maker<S, T>], env: &Env) -> Self {
        Self { factories: makers.iter().filter_map(|make| make(env)).collect() }
    }

    /// A registry of the given factories (tests put their own in).
    pub fn of(factories: Vec<Arc<dyn Factory<S, T>>>) -> Self {
        Self { factories }
    }

    /// The part for `section` and the name of its factory.
    pub fn build(&self, section: &S) -> Option<Result<(&'static str, Arc<T>), Unsupported>> {
        self.factories.iter().find_map(|f| f.build(section).map(|r| r.map(|part| (f.name(), part))))
    }

    /// The names of every factory, for "supported:" messages.
    pub fn names(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.name()).collect()
    }

    /// `names` quoted and comma-separated.
    pub fn supported(&self) -> String {
        self.names().iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    }

    pub fn is_empty(&self) -> bool {
        self.factories.is_empty()
    }

    /// Lets every factory look at its inputs again.
    pub fn refresh(&self) {
        self.factories.iter().for_each(|f| f.refresh());
    }
}

/// A factory that serves every section with one fixed part (tests).
pub struct Fixed<T: ?Sized> {
    pub name: &'static str,
    pub part: Arc<T>,
}

impl<S: ?Sized, T: ?Sized + Send + Sync> Factory<S, T> for Fixed<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn build(&self, _: &S) -> Option<Result<Arc<T>, Unsupported>> {
        Some(Ok(self.part.clone()))
    }
}
