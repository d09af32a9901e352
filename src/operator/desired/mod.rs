//! spec → desired objects: a pure function from a validated TektonChain to
//! the objects that make up a Chains install.

mod configmaps;
mod deployment;
mod object;
mod overrides;
mod rbac;

pub use deployment::{WORKLOAD_KINDS, statefulset_ordinals, with_start_config};
pub use object::{
    APPLIED_HASH, BuildContext, CREATED_BY, DesiredObject, FIELD_MANAGER, Mode, Ownership, START_CONFIG_HASH, hashed,
};
pub use overrides::merge;
pub use rbac::{scoped_absent, watch_scope};

use std::collections::BTreeMap;

use kube::Resource;
use serde_json::json;

use super::validate::ValidChain;
use crate::crd::TektonChain;
use object::{core, object};

/// Builds every object of the install, in apply order.
pub fn build(chain: &TektonChain, valid: &ValidChain, ctx: &BuildContext) -> Vec<DesiredObject> {
    let owner = chain.controller_owner_ref(&()).expect("TektonChain has name and uid");
    let ns = valid.namespace.as_str();
    let labels = common_labels(&ctx.version);
    let mut objects = vec![namespace(ns, &labels)];
    // The watch scope comes from the built workload (overrides included).
    let workloads = deployment::deployment(chain, ns, &labels, &owner, ctx);
    let scope = workloads.iter().find_map(|w| match &w.mode {
        Mode::Apply(body) => Some(rbac::watch_scope(body)),
        _ => None,
    });
    objects.extend(rbac::objects(ns, &labels, &owner, &scope.unwrap_or_default()));
    objects.extend(configmaps::objects(chain, valid, &labels, &ctx.version));
    objects.extend(workloads);
    objects.push(deployment::service(ns, &labels, &owner));
    objects.into_iter().map(hashed).collect()
}

/// Labels on everything the operator installs.
pub fn common_labels(version: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/part-of", "tekton-chains"),
        ("app.kubernetes.io/managed-by", FIELD_MANAGER),
        ("app.kubernetes.io/instance", "default"),
        ("app.kubernetes.io/version", version),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The label selector that finds installed objects (for watches).
pub const PART_OF_SELECTOR: &str = "app.kubernetes.io/part-of=tekton-chains";

fn namespace(ns: &str, labels: &BTreeMap<String, String>) -> DesiredObject {
    // Created if absent and never deleted: it may hold the user's key and more.
    let body = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": ns, "labels": labels },
    });
    object(core("Namespace", "namespaces"), None, ns, Mode::CreateOnly(body), Ownership::Kept)
}

#[cfg(test)]
mod tests;
