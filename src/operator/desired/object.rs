//! The vocabulary of desired objects: what an object of the install is,
//! how it is written and whose it is, and the helpers that build one.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Field manager for everything the operator applies; also the
/// `managed-by` label and the [`CREATED_BY`] mark on what it installs.
pub const FIELD_MANAGER: &str = "tekton-chains-operator";

/// Annotation holding a hash of what the operator applied, so a changed
/// desired state (including removed fields) is re-applied.
pub const APPLIED_HASH: &str = "operator.tekton.dev/applied-hash";

/// Pod-template annotation of the controller Deployment: a hash of the live
/// data of the ConfigMaps the controller reads at start (the CA bundles,
/// the leader-election settings), so a change rolls it.
pub const START_CONFIG_HASH: &str = "operator.tekton.dev/start-config-hash";

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
    /// Must not exist: deleted when it is the operator's (the controller's
    /// other workload kind, after `statefulset-ordinals` changes).
    Absent,
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
    /// `None` for cluster-scoped objects.
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

/// Standard object metadata with labels, without an owner.
pub(super) fn shared_metadata(name: &str, ns: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({ "name": name, "namespace": ns, "labels": labels })
}

/// Standard object metadata with labels and the controlling owner.
pub(super) fn metadata(
    name: &str,
    ns: Option<&str>,
    labels: &BTreeMap<String, String>,
    owner: &OwnerReference,
) -> Value {
    let mut m = json!({ "name": name, "labels": labels, "ownerReferences": [owner] });
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

/// One object of the install, from its parts.
pub(super) fn object(
    resource: ApiResource,
    ns: Option<&str>,
    name: &str,
    mode: Mode,
    ownership: Ownership,
) -> DesiredObject {
    DesiredObject { resource, namespace: ns.map(String::from), name: name.into(), mode, ownership }
}

/// A core (`v1`) resource.
pub(super) fn core(kind: &str, plural: &str) -> ApiResource {
    api_resource("", "v1", kind, plural)
}

/// A resource of `group/version`.
pub(super) fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Stamps the applied fields with a hash of themselves.
pub fn hashed(mut obj: DesiredObject) -> DesiredObject {
    if let Mode::Apply(body) | Mode::ApplyWithSeed { apply: body, .. } = &mut obj.mode {
        body["metadata"]["annotations"][APPLIED_HASH] = json!(short_hash(&body.to_string()));
    }
    obj
}

/// The first 8 bytes of the SHA-256 of `text`, in hex.
pub(super) fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}
