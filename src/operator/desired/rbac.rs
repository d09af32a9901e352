//! The signer's ServiceAccount and its least-privilege RBAC.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::object::{DesiredObject, Mode, Ownership, api_resource, core, metadata, object};
use crate::tekton::objects as names;

/// Cluster-wide rules of the signer (ClusterRole `tekton-chains-controller-cluster-access`):
/// exactly the calls it makes, in any namespace runs may be in. `run` mode
/// (both loops in one process) makes the same calls with the operator's
/// ClusterRole, which holds all of these (config/rbac/cluster_role.yaml).
/// tests/rbac_audit.rs checks every rule against the API server's audit log.
pub fn cluster_rules() -> Value {
    json!([
        // Watches runs (all namespaces or `--namespace` ones), GETs a queued
        // run whose object the queue did not keep and a PipelineRun's child
        // TaskRuns, and patches its annotations and its finalizer (a merge
        // patch of the run's own metadata.finalizers: no `finalizers`
        // subresource).
        { "apiGroups": ["tekton.dev"], "resources": ["taskruns", "pipelineruns"],
          "verbs": ["get", "list", "watch", "patch"] },
        // Registry credentials: the run's ServiceAccount, then each Secret it
        // names (its type first, read as a Table: also a `get`).
        { "apiGroups": [""], "resources": ["serviceaccounts", "secrets"], "verbs": ["get"] },
        // Events on runs and chains-config (kube-runtime's Recorder writes
        // events.k8s.io/v1: `create`, and `patch` when an Event repeats).
        { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
    ])
}

/// Rules in the install namespace (Role `tekton-chains-leader-election`).
pub fn namespace_rules() -> Value {
    json!([
        // Bucket leader election: creates a bucket's Lease when it is absent
        // (a POST, which resourceNames cannot restrict), then reads and
        // patches only the signer's Leases (every bucket count's names, so a
        // changed count needs no RBAC change), and reads upstream's
        // leader-election ConfigMap at start.
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"] },
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": names::all_lease_names(),
          "verbs": ["get", "patch"] },
        { "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [names::CONFIG_LEADER_ELECTION],
          "verbs": ["get"] },
        // chains-config, listed and watched with a metadata.name field
        // selector (authorized against resourceNames).
        { "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [names::CHAINS_CONFIG],
          "verbs": ["list", "watch"] },
    ])
}

/// The ServiceAccount, ClusterRole, Role and their bindings.
pub fn objects(ns: &str, labels: &BTreeMap<String, String>, owner: &OwnerReference) -> Vec<DesiredObject> {
    let sa = names::SERVICE_ACCOUNT;
    let subjects = json!([{ "kind": "ServiceAccount", "name": sa, "namespace": ns }]);
    let rbac = |kind: &str, plural: &str| api_resource("rbac.authorization.k8s.io", "v1", kind, plural);
    let apply = |kind: &str, name: &str, ns: Option<&str>, body: Value| {
        let mut v = json!({
            "apiVersion": if kind == "ServiceAccount" { "v1" } else { "rbac.authorization.k8s.io/v1" },
            "kind": kind,
            "metadata": metadata(name, ns, labels, owner),
        });
        v.as_object_mut().expect("object").extend(body.as_object().cloned().unwrap_or_default());
        Mode::Apply(v)
    };
    vec![
        object(
            core("ServiceAccount", "serviceaccounts"),
            Some(ns),
            sa,
            apply("ServiceAccount", sa, Some(ns), json!({})),
            Ownership::Owned { adopt: false },
        ),
        object(
            rbac("ClusterRole", "clusterroles"),
            None,
            names::CLUSTER_ROLE,
            apply("ClusterRole", names::CLUSTER_ROLE, None, json!({ "rules": cluster_rules() })),
            Ownership::Owned { adopt: false },
        ),
        object(
            rbac("ClusterRoleBinding", "clusterrolebindings"),
            None,
            names::CLUSTER_ROLE,
            apply(
                "ClusterRoleBinding",
                names::CLUSTER_ROLE,
                None,
                json!({
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": names::CLUSTER_ROLE },
                    "subjects": subjects,
                }),
            ),
            Ownership::Owned { adopt: false },
        ),
        object(
            rbac("Role", "roles"),
            Some(ns),
            names::ROLE,
            apply("Role", names::ROLE, Some(ns), json!({ "rules": namespace_rules() })),
            Ownership::Owned { adopt: false },
        ),
        object(
            rbac("RoleBinding", "rolebindings"),
            Some(ns),
            names::ROLE,
            apply(
                "RoleBinding",
                names::ROLE,
                Some(ns),
                json!({
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names::ROLE },
                    "subjects": subjects,
                }),
            ),
            Ownership::Owned { adopt: false },
        ),
    ]
}
