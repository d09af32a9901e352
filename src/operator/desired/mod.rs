//! spec → desired objects: a pure function from a validated TektonChain to
//! the objects that make up a Chains install.

mod configmaps;
mod deployment;
pub use crate::tekton::objects as names;
mod overrides;
pub use overrides::merge;
mod rbac;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::crd::TektonChain;

use super::validate::ValidChain;

/// Annotation holding a hash of what the operator applied, so a changed
/// desired state (including removed fields) is re-applied.
pub const APPLIED_HASH: &str = "operator.tekton.dev/applied-hash";

/// How the operator writes an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Server-side apply of these fields; the operator owns exactly them.
    Apply(Value),
    /// Apply these fields; on first creation also write `seed` (defaults a
    /// user may later edit; never re-applied).
    ApplyWithSeed { apply: Value, seed: Value },
    /// Create once if absent; never modified or deleted afterwards.
    CreateOnly(Value),
}

/// Who an object belongs to, which decides what apply and uninstall do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The operator's: carries an ownerReference, deleted on uninstall. A
    /// live object of that name that is not the operator's is left alone
    /// (never adopted), unless `adopt`.
    Owned { adopt: bool },
    /// Shared with users (ConfigMaps they edit by hand): no ownerReference;
    /// the operator's keys are merged into whatever is there, and on
    /// uninstall only they are removed. It is deleted only when the
    /// operator created it and nothing a user set is left in it.
    Shared,
    /// Created if absent, then never written or deleted (the Namespace, the
    /// signing Secret).
    Kept,
}

/// Annotation on objects the operator created (not found), so uninstall
/// never deletes an object somebody else made.
pub const CREATED_BY: &str = "operator.tekton.dev/created-by";

/// One object of the install.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
    pub mode: Mode,
    pub ownership: Ownership,
}

impl DesiredObject {
    /// `kind namespace/name`, for logs and errors.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.resource.kind, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }
}

/// What the build step needs besides the spec.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// Image of this binary; the Deployment runs it as `signer`.
    pub image: String,
    /// Version reported in chains-info and status.
    pub version: String,
}

/// Builds every object of the install, in apply order.
pub fn build(chain: &TektonChain, valid: &ValidChain, ctx: &BuildContext) -> Vec<DesiredObject> {
    let owner = chain.controller_owner_ref(&()).expect("TektonChain has name and uid");
    let ns = valid.namespace.as_str();
    let labels = common_labels(&ctx.version);
    let mut objects = vec![namespace(ns, &labels)];
    objects.extend(rbac::objects(ns, &labels, &owner));
    objects.extend(configmaps::objects(chain, valid, &labels, &ctx.version));
    objects.push(signing_secret(ns, &labels));
    objects.push(deployment::deployment(chain, ns, &labels, &owner, ctx));
    objects.push(deployment::service(ns, &labels, &owner));
    objects.into_iter().map(hashed).collect()
}

/// Labels on everything the operator installs.
pub fn common_labels(version: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/part-of", "tekton-chains"),
        ("app.kubernetes.io/managed-by", "tekton-chains-operator"),
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

fn signing_secret(ns: &str, labels: &BTreeMap<String, String>) -> DesiredObject {
    // Created empty if absent; its data belongs to the user (or to key generation).
    let body = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": names::SIGNING_SECRET, "namespace": ns, "labels": labels },
    });
    object(core("Secret", "secrets"), Some(ns), names::SIGNING_SECRET, Mode::CreateOnly(body), Ownership::Kept)
}

/// Standard object metadata with labels, without an owner.
fn shared_metadata(name: &str, ns: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({ "name": name, "namespace": ns, "labels": labels })
}

/// Standard object metadata with labels and the controlling owner.
fn metadata(name: &str, ns: Option<&str>, labels: &BTreeMap<String, String>, owner: &OwnerReference) -> Value {
    let mut m = json!({ "name": name, "labels": labels, "ownerReferences": [owner] });
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn object(resource: ApiResource, ns: Option<&str>, name: &str, mode: Mode, ownership: Ownership) -> DesiredObject {
    DesiredObject { resource, namespace: ns.map(String::from), name: name.into(), mode, ownership }
}

fn core(kind: &str, plural: &str) -> ApiResource {
    api_resource("", "v1", kind, plural)
}

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Stamps the applied fields with a hash of themselves.
pub fn hashed(mut obj: DesiredObject) -> DesiredObject {
    if let Mode::Apply(body) | Mode::ApplyWithSeed { apply: body, .. } = &mut obj.mode {
        let digest = Sha256::digest(body.to_string().as_bytes());
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        body["metadata"]["annotations"][APPLIED_HASH] = json!(hash);
    }
    obj
}

#[cfg(test)]
mod tests;
