//! Custom resources served by the operator, and their CRD manifests.

mod boolstr;
pub mod bundle;
mod chain;
mod fields;
mod status;
mod tektonconfig;
mod words;

pub use boolstr::BoolOrString;
pub use chain::{
    AdditionalOptions, CHAIN_NAME, ChainSpec, FreeForm, Performance, PodPlacement, TektonChain, TektonChainSpec,
};
pub use fields::ChainConfigFields;
pub use status::{ComponentStatus, ConditionType, ConditionUpdate, Reason};
pub use tektonconfig::{CONFIG_NAME, TektonConfig, TektonConfigSpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs this binary serves, in install order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![TektonChain::crd(), TektonConfig::crd()]
}

/// All CRDs as one multi-document YAML stream (what `crd` prints and crds/ holds).
pub fn crds_yaml() -> String {
    crds().iter().map(|crd| serde_yaml::to_string(crd).expect("CRD serializes")).collect::<Vec<_>>().join("---\n")
}

#[cfg(test)]
mod tests;
