//! `TektonChain` (operator.tekton.dev/v1alpha1): one Chains install.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ChainConfigFields, ComponentStatus};

/// The only accepted name of the TektonChain.
pub const CHAIN_NAME: &str = "chain";

/// Installs Tekton Chains in `targetNamespace` and configures it.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "operator.tekton.dev",
    version = "v1alpha1",
    kind = "TektonChain",
    plural = "tektonchains",
    status = "ComponentStatus",
    doc = "TektonChain installs and configures Tekton Chains. Only one, named `chain`, is reconciled.",
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TektonChainSpec {
    /// Namespace that Chains is installed in, e.g. openshift-pipelines.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub target_namespace: String,
    /// Pod placement for the Chains controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PodPlacement>,
    #[serde(flatten)]
    pub chain: ChainSpec,
}

/// Chain settings shared by TektonChain.spec and TektonConfig.spec.chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainSpec {
    /// Remove Chains. The signing-secrets Secret is always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Create signing-secrets (or fill an empty one) with a new cosign key pair (ECDSA P-256).
    /// A Secret that already holds a key is never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_signing_secret: Option<bool>,
    /// Extra environment variables for the Chains controller container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_envs: Option<Vec<EnvVar>>,
    /// Overrides merged into the installed Deployment and ConfigMaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<AdditionalOptions>,
    /// Controller tuning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<Performance>,
    /// CPU and memory requests and limits of the Chains controller container
    /// (default: requests 100m CPU and 64Mi, limit 256Mi memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(flatten)]
    pub keys: ChainConfigFields,
}

/// Where the controller's pods run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Controller tuning, passed to the signer as flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Performance {
    /// Concurrent signing workers.
    #[serde(rename = "threads-per-controller", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub threads_per_controller: Option<i32>,
    /// Client-side QPS limit towards the API server.
    #[serde(rename = "kube-api-qps", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub kube_api_qps: Option<f64>,
    /// Client-side burst towards the API server.
    #[serde(rename = "kube-api-burst", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub kube_api_burst: Option<i32>,
    /// Controller replicas; they share the runs by bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// Buckets the runs are shared in (1 to 10), each with a Lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub buckets: Option<i32>,
    /// Run the controller as a StatefulSet whose pod N signs bucket N (no
    /// Leases); buckets are then the replica count.
    #[serde(rename = "statefulset-ordinals", default, skip_serializing_if = "Option::is_none")]
    pub statefulset_ordinals: Option<bool>,
}

/// Overrides for what the operator installs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalOptions {
    /// Ignore these options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// By Deployment name: labels, annotations, and spec fields merged over the installed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<BTreeMap<String, FreeForm>>,
    /// By ConfigMap name: labels, annotations and data merged over the installed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_maps: Option<BTreeMap<String, FreeForm>>,
}

/// An object with any fields, kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FreeForm(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for FreeForm {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FreeForm".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
    }
}
