//! `TektonConfig` (operator.tekton.dev/v1alpha1): the umbrella config; its
//! `spec.chain` section drives the TektonChain.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ChainSpec, ComponentStatus, PodPlacement};

/// The only accepted name of the TektonConfig.
pub const CONFIG_NAME: &str = "config";

/// Cluster-wide Tekton configuration. This operator acts on `spec.chain`,
/// `spec.targetNamespace` and `spec.config`; other sections are kept as given.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "operator.tekton.dev",
    version = "v1alpha1",
    kind = "TektonConfig",
    plural = "tektonconfigs",
    status = "ComponentStatus",
    doc = "TektonConfig carries the chain section that configures Tekton Chains. Only one, named `config`, is reconciled.",
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct TektonConfigSpec {
    /// Namespace for the components (default: the operator's --default-target-namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub target_namespace: Option<String>,
    /// Install profile: all, basic, lite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["all", "basic", "lite"]))]
    pub profile: Option<String>,
    /// Tekton Chains settings; `disabled: true` removes Chains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainSpec>,
    /// Pod placement applied to the components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PodPlacement>,
    /// Sections for other Tekton components (pipeline, trigger, addon, ...), kept as given.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}
