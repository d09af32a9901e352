//! Before the controllers start: look for another Tekton operator (and
//! refuse to run beside it), then create TektonConfig `config` when it is
//! missing, as OpenShift Pipelines does on start.

mod marks;

use kube::ResourceExt;
use kube::core::ApiResource;
use serde_json::json;
use tracing::{info, warn};

pub use marks::{OTHER_OPERATOR_CRD, OTHER_OPERATOR_DEPLOYMENTS, find_other_operator};

use super::context::Context;
use super::desired::{DesiredObject, Mode, Ownership};
use super::error::{Error, Result};
use crate::crd::{CONFIG_NAME, TektonConfig};

/// Runs the start-up steps; an error means the loop must not start.
pub async fn prepare(ctx: &Context) -> Result<()> {
    let found = find_other_operator(ctx.applier.client()).await?;
    if !found.is_empty() {
        if !ctx.startup.allow_other_operator {
            return Err(Error::OtherOperator { found });
        }
        warn!(found = %found.join(", "), "another Tekton operator runs here (--allow-other-operator): TektonConfig config is not created");
        return Ok(());
    }
    if ctx.startup.auto_install {
        let live = ctx.applier.ensure(&default_config(&ctx.default_namespace)).await?;
        info!(tektonconfig = %live.name_any(), resource_version = ?live.resource_version(), "TektonConfig config is there");
    }
    Ok(())
}

/// TektonConfig `config` as OpenShift Pipelines creates it (profile `all`,
/// an empty `chain` section), created only when absent and never written
/// again: from then on it is the admin's to edit.
pub fn default_config(target_namespace: &str) -> DesiredObject {
    let resource = ApiResource::erase::<TektonConfig>(&());
    let body = json!({
        "apiVersion": resource.api_version, "kind": resource.kind,
        "metadata": { "name": CONFIG_NAME },
        "spec": { "targetNamespace": target_namespace, "profile": "all", "chain": {}, "config": {} },
    });
    DesiredObject {
        resource,
        namespace: None,
        name: CONFIG_NAME.into(),
        mode: Mode::CreateOnly(body),
        ownership: Ownership::Kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::TektonConfigSpec;

    #[test]
    fn the_default_config_is_created_once_and_parses_as_a_tektonconfig() {
        let obj = default_config("openshift-pipelines");
        assert_eq!((obj.name.as_str(), obj.namespace.as_deref(), obj.ownership), ("config", None, Ownership::Kept));
        let Mode::CreateOnly(body) = obj.mode else { panic!("created once, never applied") };
        let spec: TektonConfigSpec = serde_json::from_value(body["spec"].clone()).unwrap();
        assert_eq!(spec.target_namespace.as_deref(), Some("openshift-pipelines"));
        assert_eq!(spec.profile.as_deref(), Some("all"));
        assert_eq!(spec.chain.and_then(|c| c.disabled), None, "Chains is installed");
        assert_eq!(body["kind"], "TektonConfig");
    }
}
