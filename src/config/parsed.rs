//! The typed `chains-config`, read in one pass with upstream defaults.

use std::collections::BTreeMap;

use super::keys::name as k;
use super::reader::Reader;
use super::sections::{Deprecation, Hidden, KmsAuth, LogConfig, SigningIdentity, Storage};
use super::values::{BuildType, Format, ImageFormat, LogEntryKind, OciEncoding, PubSubProvider};
use super::values::{SignerKind, StorageKind};
use super::{ConfigError, ConfigErrors};

/// Settings for one artifact type (taskrun, pipelinerun, oci); `F` is its format type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactConfig<F = Format> {
    pub format: F,
    /// Backends in config order, without repeats; empty disables storage.
    pub storage: Vec<StorageKind>,
    pub signer: SignerKind,
}

impl<F> ArtifactConfig<F> {
    /// False when this artifact type is neither signed nor stored.
    pub fn enabled(&self) -> bool {
        self.signer != SignerKind::None && !self.storage.is_empty()
    }
}

/// When runs are logged in Rekor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transparency {
    Off,
    On,
    /// Only runs annotated `chains.tekton.dev/transparency-upload: "true"`.
    Manual,
}

/// A valid `chains-config`. Its `Debug` hides secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainsConfig {
    pub taskrun: ArtifactConfig,
    pub pipelinerun: ArtifactConfig,
    pub oci: ArtifactConfig<ImageFormat>,
    pub deep_inspection: bool,
    pub transparency: Transparency,
    /// The log's settings (used when `transparency` is not `Off`).
    pub log: LogConfig,
    /// Every storage backend's section, one per [`StorageKind`], in its order.
    pub backends: Vec<Storage>,
    /// `signers.kms.*`, as a [`SigningIdentity::Kms`].
    pub kms: SigningIdentity,
    /// `signers.x509.fulcio.*` when `signers.x509.fulcio.enabled` is on.
    pub keyless: Option<SigningIdentity>,
    pub builder_id: String,
    pub build_type: BuildType,
    /// `signers.verify-before-skip`: a run marked signed is checked first.
    pub verify_before_skip: bool,
    /// `filter.managed-by`: other controllers whose runs are signed too.
    pub managed_by: Vec<String>,
    /// Deprecated names and values this config uses.
    pub deprecations: Vec<Deprecation>,
}

impl ChainsConfig {
    /// The settings of a run kind's artifact type.
    pub fn for_run(&self, kind: crate::tekton::RunKind) -> &ArtifactConfig {
        match kind {
            crate::tekton::RunKind::TaskRun => &self.taskrun,
            crate::tekton::RunKind::PipelineRun => &self.pipelinerun,
        }
    }

    /// The section of one storage backend.
    pub fn backend(&self, kind: StorageKind) -> Option<&Storage> {
        self.backends.iter().find(|s| s.kind() == kind)
    }

    /// Whether image signatures go to `oci` storage as sigstore bundles
    /// (`artifacts.oci.storage` has `oci`, `storage.oci.encoding-format:
    /// sigstore-bundle`).
    pub fn oci_bundles(&self) -> bool {
        self.oci.storage.contains(&StorageKind::Oci)
            && matches!(
                self.backend(StorageKind::Oci),
                Some(Storage::Oci { encoding: OciEncoding::SigstoreBundle, .. })
            )
    }

    /// Who signs for `signer` (`None` for `signer: none`).
    pub fn identity(&self, signer: SignerKind) -> Option<SigningIdentity> {
        match signer {
            SignerKind::X509 => Some(self.keyless.clone().unwrap_or(SigningIdentity::Keys)),
            SignerKind::Kms => Some(self.kms.clone()),
            SignerKind::None => None,
        }
    }

    /// Whether runs managed by `managed_by` (their `spec.managedBy`) are signed.
    pub fn takes_managed_by(&self, managed_by: Option<&str>) -> bool {
        match managed_by {
            None | Some("") => true,
            Some(m) => super::keys::ALWAYS_MANAGED_BY.contains(&m) || self.managed_by.iter().any(|x| x == m),
        }
    }

    /// Parses a ConfigMap's data: the typed config, or every bad key (in
    /// key-table order); a bad value never yields a partial config.
    pub fn parse(data: &BTreeMap<String, String>) -> Result<Self, ConfigErrors> {
        let (config, errors) = read(data);
        if errors.is_empty() { Ok(config) } else { Err(ConfigErrors(errors)) }
    }
}

/// Reads every key once; the config is meaningful only without errors.
pub(super) fn read(data: &BTreeMap<String, String>) -> (ChainsConfig, Vec<ConfigError>) {
    let mut r = Reader::new(data);
    let config = read_with(&mut r);
    let (errors, deprecations) = r.finish();
    (ChainsConfig { deprecations, ..config }, errors)
}

/// Reads every key through `r` (its errors and deprecations stay in `r`).
pub(super) fn read_with(r: &mut Reader) -> ChainsConfig {
    let run = |r: &mut Reader, format, storage, signer| ArtifactConfig {
        format: r.word(format, Format::parse, Format::InToto),
        storage: r.storage(storage),
        signer: r.signer(signer),
    };
    let taskrun = run(r, k::artifacts_taskrun_format, k::artifacts_taskrun_storage, k::artifacts_taskrun_signer);
    let pipelinerun =
        run(r, k::artifacts_pipelinerun_format, k::artifacts_pipelinerun_storage, k::artifacts_pipelinerun_signer);
    let deep_inspection = r.flag(k::artifacts_pipelinerun_enable_deep_inspection);
    let oci = ArtifactConfig {
        format: r.word(k::artifacts_oci_format, ImageFormat::parse, ImageFormat::SimpleSigning),
        storage: r.storage(k::artifacts_oci_storage),
        signer: r.signer(k::artifacts_oci_signer),
    };
    let backends = backends(r);
    let selected = [taskrun.storage.as_slice(), pipelinerun.storage.as_slice(), oci.storage.as_slice()];
    super::required::check(&selected, &backends).into_iter().for_each(|e| r.error(e));
    for (a, key) in [(&taskrun, k::artifacts_taskrun_format), (&pipelinerun, k::artifacts_pipelinerun_format)] {
        if let Some(e) = super::required::in_toto_format(&a.storage, a.format, key) {
            r.error(e);
        }
    }
    if let Some(e) = super::required::archivista_images(&oci.storage) {
        r.error(e);
    }
    let transparency = transparency(r);
    let log = LogConfig {
        url: r.text(k::transparency_url),
        entry_kind: r.word(k::transparency_entry_kind, LogEntryKind::parse, LogEntryKind::InToto),
    };
    if transparency != Transparency::Off && log.url.is_empty() {
        r.error(ConfigError {
            key: k::transparency_url.into(),
            value: Some(String::new()),
            allowed: "an absolute http:// or https:// URL of a Rekor v1 log (transparency.enabled is on)".into(),
        });
    }
    let keyless = keyless(r);
    let verify_before_skip = r.flag(k::signers_verify_before_skip);
    let kms = kms(r);
    let builder_id = r.text(k::builder_id);
    let build_type = r.word(k::builddefinition_buildtype, BuildType::parse, BuildType::Slsa);
    let managed_by = r.list(k::filter_managed_by);
    ChainsConfig {
        taskrun,
        pipelinerun,
        oci,
        deep_inspection,
        transparency,
        log,
        backends,
        kms,
        keyless,
        builder_id,
        build_type,
        verify_before_skip,
        managed_by,
        deprecations: Vec::new(),
    }
}

fn transparency(r: &mut Reader) -> Transparency {
    let parse = |v: &str| match v {
        "manual" => Some(Transparency::Manual),
        v => super::parse_bool(v).map(|on| if on { Transparency::On } else { Transparency::Off }),
    };
    r.word(k::transparency_enabled, parse, Transparency::Off)
}

fn backends(r: &mut Reader) -> Vec<Storage> {
    let gcs = Storage::Gcs { bucket: r.text(k::storage_gcs_bucket) };
    let oci = Storage::Oci {
        repository: r.text(k::storage_oci_repository).trim().to_string(),
        insecure: r.flag(k::storage_oci_repository_insecure),
        encoding: r.word(k::storage_oci_encoding_format, OciEncoding::parse, OciEncoding::Dsse),
    };
    let url = r.text(k::storage_docdb_url);
    let docdb = Storage::DocDb {
        collection: super::docdb::parse(&url),
        url,
        mongo_server_url: Hidden(r.text(k::storage_docdb_mongo_server_url)),
        mongo_server_url_dir: r.text(k::storage_docdb_mongo_server_url_dir),
        mongo_server_url_path: r.text(k::storage_docdb_mongo_server_url_path),
    };
    let grafeas = Storage::Grafeas {
        project_id: r.text(k::storage_grafeas_projectid),
        note_id: r.text(k::storage_grafeas_noteid),
        note_hint: r.text(k::storage_grafeas_notehint),
    };
    let archivista = Storage::Archivista { url: r.text(k::storage_archivista_url) };
    let kafka = Storage::Kafka {
        provider: r.word(k::storage_pubsub_provider, PubSubProvider::parse, PubSubProvider::Unset),
        topic: r.text(k::storage_pubsub_topic),
        bootstrap_servers: r.list(k::storage_pubsub_kafka_bootstrap_servers),
    };
    let mut all = vec![Storage::Tekton, oci, gcs, docdb, grafeas, kafka, archivista];
    all.sort_by_key(Storage::kind);
    all
}

fn keyless(r: &mut Reader) -> Option<SigningIdentity> {
    let enabled = r.flag(k::signers_x509_fulcio_enabled);
    let identity = SigningIdentity::Keyless {
        fulcio: r.text(k::signers_x509_fulcio_address),
        issuer: r.text(k::signers_x509_fulcio_issuer),
        provider: r.text(k::signers_x509_fulcio_provider),
        token_file: r.text(k::signers_x509_identity_token_file),
        tuf_mirror: r.text(k::signers_x509_tuf_mirror_url),
    };
    enabled.then_some(identity)
}

fn kms(r: &mut Reader) -> SigningIdentity {
    SigningIdentity::Kms {
        kmsref: r.text(k::signers_kms_kmsref),
        auth: KmsAuth {
            address: r.text(k::signers_kms_auth_address),
            token: Hidden(r.text(k::signers_kms_auth_token)),
            token_path: r.text(k::signers_kms_auth_token_path),
            oidc_path: r.text(k::signers_kms_auth_oidc_path),
            oidc_role: r.text(k::signers_kms_auth_oidc_role),
            oidc_token_path: r.text(k::signers_kms_auth_oidc_token_path),
            spire_sock: r.text(k::signers_kms_auth_spire_sock),
            spire_audience: r.text(k::signers_kms_auth_spire_audience),
        },
    }
}

impl Default for ChainsConfig {
    /// Upstream's defaults (an empty `chains-config`).
    fn default() -> Self {
        read(&BTreeMap::new()).0
    }
}
