//! The typed view of a validated `chains-config`, with upstream defaults.

use std::collections::BTreeMap;

use super::{ConfigErrors, keys, parse_bool, storage_list, validate};

/// Settings for one artifact type (taskrun, pipelinerun, oci).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactConfig {
    pub format: String,
    pub storage: Vec<String>,
    pub signer: String,
}

/// When runs are logged in Rekor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transparency {
    Off,
    On,
    /// Only runs annotated `chains.tekton.dev/transparency-upload: "true"`.
    Manual,
}

/// A validated `chains-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainsConfig {
    pub taskrun: ArtifactConfig,
    pub pipelinerun: ArtifactConfig,
    pub oci: ArtifactConfig,
    pub deep_inspection: bool,
    pub transparency: Transparency,
    pub transparency_url: String,
    pub fulcio_enabled: bool,
    pub builder_id: String,
    pub build_type: String,
    pub oci_repository: String,
    pub oci_repository_insecure: bool,
    /// Every key with its effective value (defaults filled in).
    pub values: BTreeMap<String, String>,
}

impl ChainsConfig {
    /// Parses a ConfigMap's data; rejects the whole map if any key is bad.
    pub fn parse(data: &BTreeMap<String, String>) -> Result<Self, ConfigErrors> {
        validate(data)?;
        let mut values: BTreeMap<String, String> =
            keys::KEYS.iter().map(|k| (k.key.to_string(), k.default.to_string())).collect();
        values.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let get = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
        let flag = |k: &str| parse_bool(get(k)).unwrap_or(false);
        let artifact = |kind: &str| ArtifactConfig {
            format: normalize_format(get(&format!("artifacts.{kind}.format"))),
            storage: storage_list(get(&format!("artifacts.{kind}.storage"))).into_iter().map(String::from).collect(),
            signer: get(&format!("artifacts.{kind}.signer")).to_string(),
        };
        let transparency = match get("transparency.enabled") {
            "manual" => Transparency::Manual,
            v if parse_bool(v) == Some(true) => Transparency::On,
            _ => Transparency::Off,
        };
        Ok(Self {
            taskrun: artifact("taskrun"),
            pipelinerun: artifact("pipelinerun"),
            oci: artifact("oci"),
            deep_inspection: flag("artifacts.pipelinerun.enable-deep-inspection"),
            transparency,
            transparency_url: get("transparency.url").to_string(),
            fulcio_enabled: flag("signers.x509.fulcio.enabled"),
            builder_id: get("builder.id").to_string(),
            build_type: get("builddefinition.buildtype").to_string(),
            oci_repository: get("storage.oci.repository").to_string(),
            oci_repository_insecure: flag("storage.oci.repository.insecure"),
            values,
        })
    }
}

impl Default for ChainsConfig {
    fn default() -> Self {
        Self::parse(&BTreeMap::new()).expect("defaults are valid")
    }
}

/// `slsa/v1` is an alias of `in-toto`.
fn normalize_format(format: &str) -> String {
    match format {
        "slsa/v1" => "in-toto".into(),
        f => f.into(),
    }
}
