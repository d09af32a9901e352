//! Status writes for the operator's custom resources.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::error::{Error, Result, Step};
use crate::crd::{ComponentStatus, ConditionUpdate, TektonChain, TektonConfig};

/// Field manager of the status subresource.
const STATUS_MANAGER: &str = "tekton-chains-operator-status";

/// What one reconcile sets in a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// Every condition of the kind, in order; they replace the old ones.
    pub conditions: Vec<ConditionUpdate>,
    /// Where the install is now (`None`: nowhere).
    pub installed_namespace: Option<String>,
}

/// Writes status only when it differs from the live one (no write on a no-op reconcile).
pub async fn write_status<K>(ctx: &Context, obj: &K, update: StatusUpdate) -> Result<()>
where
    K: Resource<DynamicType = ()> + HasStatus + serde::de::DeserializeOwned + Clone + std::fmt::Debug,
{
    let current = obj.status().cloned().unwrap_or_default();
    let mut next = current.clone();
    next.set_conditions(update.conditions, obj.meta().generation, &now());
    next.version = Some(ctx.build.version.clone());
    next.installed_namespace = update.installed_namespace;
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
        .map_err(Error::kube(Step::WriteStatus, what))?;
    Ok(())
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Custom resources with a [`ComponentStatus`].
pub trait HasStatus {
    /// The status, if the object has one yet.
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
