//! The chains-config keys as CR fields, with the same JSON names as the ConfigMap keys.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::BoolOrString;

/// Every `chains-config` key. A field left out leaves that ConfigMap key to
/// whoever else sets it (a user's `kubectl patch`, or the signer's default).
/// Its `Debug` hides secret values (tokens, Mongo URLs).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChainConfigFields {
    /// TaskRun payload format: in-toto, slsa/v1, slsa/v2alpha3, slsa/v2alpha4, tekton.
    #[serde(rename = "artifacts.taskrun.format", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_taskrun_format: Option<String>,
    /// TaskRun storage backends, comma-separated: tekton, oci, gcs, docdb, grafeas; "" disables.
    #[serde(rename = "artifacts.taskrun.storage", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_taskrun_storage: Option<String>,
    /// TaskRun signer: x509, kms, none.
    #[serde(rename = "artifacts.taskrun.signer", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_taskrun_signer: Option<String>,
    /// PipelineRun payload format: in-toto, slsa/v1, slsa/v2alpha3, slsa/v2alpha4, tekton.
    #[serde(rename = "artifacts.pipelinerun.format", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_pipelinerun_format: Option<String>,
    /// PipelineRun storage backends, comma-separated; "" disables.
    #[serde(rename = "artifacts.pipelinerun.storage", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_pipelinerun_storage: Option<String>,
    /// PipelineRun signer: x509, kms, none.
    #[serde(rename = "artifacts.pipelinerun.signer", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_pipelinerun_signer: Option<String>,
    /// Take the subjects of a PipelineRun's child TaskRuns.
    #[serde(rename = "artifacts.pipelinerun.enable-deep-inspection", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_pipelinerun_enable_deep_inspection: Option<BoolOrString>,
    /// OCI image payload format: simplesigning.
    #[serde(rename = "artifacts.oci.format", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_oci_format: Option<String>,
    /// OCI signature storage backends, comma-separated; "" disables.
    #[serde(rename = "artifacts.oci.storage", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_oci_storage: Option<String>,
    /// OCI signer: x509, kms, none.
    #[serde(rename = "artifacts.oci.signer", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_oci_signer: Option<String>,
    /// GCS bucket for the gcs backend.
    #[serde(rename = "storage.gcs.bucket", default, skip_serializing_if = "Option::is_none")]
    pub storage_gcs_bucket: Option<String>,
    /// Repository where .sig and .att go instead of next to the image.
    #[serde(rename = "storage.oci.repository", default, skip_serializing_if = "Option::is_none")]
    pub storage_oci_repository: Option<String>,
    /// Talk plain HTTP to storage.oci.repository.
    #[serde(rename = "storage.oci.repository.insecure", default, skip_serializing_if = "Option::is_none")]
    pub storage_oci_repository_insecure: Option<BoolOrString>,
    /// Attestation encoding in OCI: dsse, sigstore-bundle.
    #[serde(rename = "storage.oci.encoding-format", default, skip_serializing_if = "Option::is_none")]
    pub storage_oci_encoding_format: Option<String>,
    /// go-cloud docstore URL for the docdb backend.
    #[serde(rename = "storage.docdb.url", default, skip_serializing_if = "Option::is_none")]
    pub storage_docdb_url: Option<String>,
    /// MongoDB server URL for docdb (mongo://).
    #[serde(rename = "storage.docdb.mongo-server-url", default, skip_serializing_if = "Option::is_none")]
    pub storage_docdb_mongo_server_url: Option<String>,
    /// Folder holding the MongoDB server URL file.
    #[serde(rename = "storage.docdb.mongo-server-url-dir", default, skip_serializing_if = "Option::is_none")]
    pub storage_docdb_mongo_server_url_dir: Option<String>,
    /// Path of the MongoDB server URL file.
    #[serde(rename = "storage.docdb.mongo-server-url-path", default, skip_serializing_if = "Option::is_none")]
    pub storage_docdb_mongo_server_url_path: Option<String>,
    /// Grafeas project id.
    #[serde(rename = "storage.grafeas.projectid", default, skip_serializing_if = "Option::is_none")]
    pub storage_grafeas_projectid: Option<String>,
    /// Grafeas note id (default tekton-<namespace>).
    #[serde(rename = "storage.grafeas.noteid", default, skip_serializing_if = "Option::is_none")]
    pub storage_grafeas_noteid: Option<String>,
    /// Grafeas note hint.
    #[serde(rename = "storage.grafeas.notehint", default, skip_serializing_if = "Option::is_none")]
    pub storage_grafeas_notehint: Option<String>,
    /// Log signatures in Rekor: true, false, manual.
    #[serde(rename = "transparency.enabled", default, skip_serializing_if = "Option::is_none")]
    pub transparency_enabled: Option<BoolOrString>,
    /// Rekor URL.
    #[serde(rename = "transparency.url", default, skip_serializing_if = "Option::is_none")]
    pub transparency_url: Option<String>,
    /// Rekor entry kind of in-toto attestations: intoto (default) or dsse.
    #[serde(rename = "transparency.entry-kind", default, skip_serializing_if = "Option::is_none")]
    pub transparency_entry_kind: Option<String>,
    /// Keyless signing with Fulcio.
    #[serde(rename = "signers.x509.fulcio.enabled", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_fulcio_enabled: Option<BoolOrString>,
    /// Fulcio URL.
    #[serde(rename = "signers.x509.fulcio.address", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_fulcio_address: Option<String>,
    /// OIDC issuer URL for Fulcio.
    #[serde(rename = "signers.x509.fulcio.issuer", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_fulcio_issuer: Option<String>,
    /// OIDC token provider: google, spiffe, github, filesystem.
    #[serde(rename = "signers.x509.fulcio.provider", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_fulcio_provider: Option<String>,
    /// Path of the OIDC token file for the filesystem provider.
    #[serde(rename = "signers.x509.identity.token.file", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_identity_token_file: Option<String>,
    /// TUF mirror URL.
    #[serde(rename = "signers.x509.tuf.mirror.url", default, skip_serializing_if = "Option::is_none")]
    pub signers_x509_tuf_mirror_url: Option<String>,
    /// Check a run marked signed before skipping it: re-sign it when its stored signature does not verify.
    #[serde(rename = "signers.verify-before-skip", default, skip_serializing_if = "Option::is_none")]
    pub signers_verify_before_skip: Option<BoolOrString>,
    /// KMS key reference: gcpkms://, awskms://, azurekms://, hashivault://.
    #[serde(rename = "signers.kms.kmsref", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_kmsref: Option<String>,
    /// KMS server address.
    #[serde(rename = "signers.kms.auth.address", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_address: Option<String>,
    /// KMS auth token.
    #[serde(rename = "signers.kms.auth.token", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_token: Option<String>,
    /// Path of a file holding the KMS auth token.
    #[serde(rename = "signers.kms.auth.token-path", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_token_path: Option<String>,
    /// Vault OIDC auth path.
    #[serde(rename = "signers.kms.auth.oidc.path", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_oidc_path: Option<String>,
    /// Vault OIDC role.
    #[serde(rename = "signers.kms.auth.oidc.role", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_oidc_role: Option<String>,
    /// SPIRE agent socket.
    #[serde(rename = "signers.kms.auth.spire.sock", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_spire_sock: Option<String>,
    /// SPIRE audience.
    #[serde(rename = "signers.kms.auth.spire.audience", default, skip_serializing_if = "Option::is_none")]
    pub signers_kms_auth_spire_audience: Option<String>,
    /// Builder id in provenance.
    #[serde(rename = "builder.id", default, skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    /// SLSA v1 buildType: https://tekton.dev/chains/v2/slsa or .../slsa-tekton.
    #[serde(rename = "builddefinition.buildtype", default, skip_serializing_if = "Option::is_none")]
    pub builddefinition_buildtype: Option<String>,
}

impl std::fmt::Debug for ChainConfigFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(crate::config::shown_map(&self.to_config_data())).finish()
    }
}

impl ChainConfigFields {
    /// The keys this CR sets, as chains-config data.
    pub fn to_config_data(&self) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self).expect("plain struct serializes");
        let serde_json::Value::Object(fields) = value else {
            return BTreeMap::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    }
}
