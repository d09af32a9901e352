//! The typed view of a validated `chains-config`, with upstream defaults.

use std::collections::BTreeMap;

use super::values::{Artifact, Format, ImageFormat, LogEntryKind, SignerKind, StorageKind};
use super::{ConfigErrors, keys, parse_bool, storage_list, validate};

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

/// A validated `chains-config`. Its `Debug` hides secret values.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainsConfig {
    pub taskrun: ArtifactConfig,
    pub pipelinerun: ArtifactConfig,
    pub oci: ArtifactConfig<ImageFormat>,
    pub deep_inspection: bool,
    pub transparency: Transparency,
    pub transparency_url: String,
    /// The Rekor entry kind of attestations.
    pub transparency_entry_kind: LogEntryKind,
    pub fulcio_enabled: bool,
    pub builder_id: String,
    pub build_type: String,
    pub oci_repository: String,
    pub oci_repository_insecure: bool,
    /// `signers.verify-before-skip`: a run marked signed is checked first.
    pub verify_before_skip: bool,
    /// Every key with its effective value (defaults filled in).
    pub values: BTreeMap<String, String>,
}

impl ChainsConfig {
    /// The settings of a run kind's artifact type.
    pub fn for_run(&self, kind: crate::tekton::RunKind) -> &ArtifactConfig {
        match kind {
            crate::tekton::RunKind::TaskRun => &self.taskrun,
            crate::tekton::RunKind::PipelineRun => &self.pipelinerun,
        }
    }

    /// Parses a ConfigMap's data; rejects the whole map if any key is bad.
    pub fn parse(data: &BTreeMap<String, String>) -> Result<Self, ConfigErrors> {
        validate(data)?;
        let mut values: BTreeMap<String, String> =
            keys::KEYS.iter().map(|k| (k.key.to_string(), k.default.to_string())).collect();
        values.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let get = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
        let flag = |k: &str| parse_bool(get(k)).unwrap_or(false);
        // Every word was validated above, so each parse below succeeds.
        let storage = |a: Artifact| {
            let mut out: Vec<StorageKind> = Vec::new();
            for kind in storage_list(get(&a.key("storage"))).into_iter().filter_map(StorageKind::parse) {
                if !out.contains(&kind) {
                    out.push(kind);
                }
            }
            out
        };
        let signer = |a: Artifact| SignerKind::parse(get(&a.key("signer"))).expect("validated signer");
        let run = |a: Artifact| ArtifactConfig {
            format: Format::parse(get(&a.key("format"))).expect("validated format"),
            storage: storage(a),
            signer: signer(a),
        };
        let transparency = match get("transparency.enabled") {
            "manual" => Transparency::Manual,
            v if parse_bool(v) == Some(true) => Transparency::On,
            _ => Transparency::Off,
        };
        Ok(Self {
            taskrun: run(Artifact::TaskRun),
            pipelinerun: run(Artifact::PipelineRun),
            oci: ArtifactConfig {
                format: ImageFormat::parse(get(&Artifact::Oci.key("format"))).expect("validated format"),
                storage: storage(Artifact::Oci),
                signer: signer(Artifact::Oci),
            },
            deep_inspection: flag("artifacts.pipelinerun.enable-deep-inspection"),
            transparency,
            transparency_url: get("transparency.url").to_string(),
            transparency_entry_kind: LogEntryKind::parse(get("transparency.entry-kind")).expect("validated kind"),
            fulcio_enabled: flag("signers.x509.fulcio.enabled"),
            builder_id: get("builder.id").to_string(),
            build_type: get("builddefinition.buildtype").to_string(),
            oci_repository: get("storage.oci.repository").to_string(),
            oci_repository_insecure: flag("storage.oci.repository.insecure"),
            verify_before_skip: flag("signers.verify-before-skip"),
            values,
        })
    }
}

impl std::fmt::Debug for ChainsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainsConfig")
            .field("taskrun", &self.taskrun)
            .field("pipelinerun", &self.pipelinerun)
            .field("oci", &self.oci)
            .field("transparency", &self.transparency)
            .field("values", &super::shown_map(&self.values))
            .finish_non_exhaustive()
    }
}

impl Default for ChainsConfig {
    fn default() -> Self {
        Self::parse(&BTreeMap::new()).expect("defaults are valid")
    }
}
