//! The signer's ServiceAccount and its least-privilege RBAC.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::{DesiredObject, Mode, Ownership, api_resource, core, metadata, names, object};

/// Cluster-wide rules the signer needs: read and annotate runs (and their
/// finalizers), read pods, service accounts and pull secrets for registry
/// credentials, and record events.
pub fn cluster_rules() -> Value {
    json!([
        { "apiGroups": ["tekton.dev"], "resources": ["taskruns", "pipelineruns"],
          "verbs": ["get", "list", "watch", "patch"] },
        { "apiGroups": ["tekton.dev"], "resources": ["taskruns/finalizers", "pipelineruns/finalizers"],
          "verbs": ["update", "patch"] },
        { "apiGroups": [""], "resources": ["pods", "serviceaccounts", "secrets"], "verbs": ["get"] },
        { "apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
    ])
}

/// Rules in the install namespace: leader-election leases and its ConfigMaps.
pub fn namespace_rules() -> Value {
    json!([
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
          "verbs": ["get", "list", "watch", "create", "update", "patch"] },
        { "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] },
    ])
}

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
