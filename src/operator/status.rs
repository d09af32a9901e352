//! Status writes for the operator's custom resources.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::error::{Error, Result};
use crate::crd::{ComponentStatus, ConditionUpdate, TektonChain, TektonConfig};

/// Field manager of the status subresource.
const STATUS_MANAGER: &str = "tekton-chains-operator-status";

/// Writes status only when it differs from the live one (no write on a no-op reconcile).
pub async fn write_status<K>(
    ctx: &Context,
    obj: &K,
    conditions: Vec<ConditionUpdate>,
    installed_namespace: Option<String>,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + HasStatus + serde::de::DeserializeOwned + Clone + std::fmt::Debug,
{
    let current = obj.status().cloned().unwrap_or_default();
    let mut next = current.clone();
    next.set_conditions(conditions, obj.meta().generation, &super::now());
    next.version = Some(ctx.build.version.clone());
    next.installed_namespace = installed_namespace;
    if next == current {
        return Ok(());
    }
    let api: Api<K> = Api::all(ctx.applier.client().clone());
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": next,
    });
    ctx.applier.count_write();
    let what = format!("{} {}", K::kind(&()), obj.name_any());
    api.patch_status(&obj.name_any(), &PatchParams::apply(STATUS_MANAGER).force(), &Patch::Apply(&body))
        .await
        .map_err(Error::kube("write status of", what))?;
    Ok(())
}

/// Custom resources with a [`ComponentStatus`].
pub trait HasStatus {
    fn status(&self) -> Option<&ComponentStatus>;
}

impl HasStatus for TektonChain {
    fn status(&self) -> Option<&ComponentStatus> {
        self.status.as_ref()
    }
}

impl HasStatus for TektonConfig {
    fn status(&self) -> Option<&ComponentStatus> {
        self.status.as_ref()
    }
}
