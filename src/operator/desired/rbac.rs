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

/// What the signer needs in its own namespace when runs are watched in
/// others only: its own ServiceAccount's registry credentials, and Events on
/// chains-config.
fn own_namespace_rules() -> Value {
    json!([
        { "apiGroups": [""], "resources": ["serviceaccounts", "secrets"], "verbs": ["get"] },
        { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
    ])
}

/// The namespaces the controller watches: its container's `--namespace`
/// arguments (`a,b`, repeatable, as upstream's flag), read from the built
/// workload after `options.deployments` overrides; empty: all namespaces.
pub fn watch_scope(workload: &Value) -> Vec<String> {
    let containers = workload["spec"]["template"]["spec"]["containers"].as_array();
    let args = containers
        .and_then(|cs| cs.iter().find(|c| c["name"] == names::CONTROLLER))
        .and_then(|c| c["args"].as_array())
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut scope = Vec::new();
    let mut next_is_value = false;
    for arg in args {
        let value = match arg.strip_prefix("--namespace") {
            Some("") => {
                next_is_value = true;
                continue;
            }
            Some(v) if v.starts_with('=') => &v[1..],
            _ if next_is_value => arg,
            _ => continue,
        };
        next_is_value = false;
        scope.extend(value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from));
    }
    scope.sort();
    scope.dedup();
    scope
}

/// The scoped Role and RoleBinding in namespace `n`, to be absent (a
/// namespace no longer watched).
pub fn scoped_absent(n: &str) -> [DesiredObject; 2] {
    let rbac = |kind: &str, plural: &str| api_resource("rbac.authorization.k8s.io", "v1", kind, plural);
    let own = Ownership::Owned { adopt: false };
    [
        object(rbac("RoleBinding", "rolebindings"), Some(n), names::SCOPED_ROLE, Mode::Absent, own),
        object(rbac("Role", "roles"), Some(n), names::SCOPED_ROLE, Mode::Absent, own),
    ]
}

/// The ServiceAccount, Role and their bindings; the ClusterRole and its
/// binding, or with a watch `scope` a Role `tekton-chains-controller-namespace-access`
/// (and binding) in each watched namespace and in `ns`, the ClusterRole
/// then to be absent.
pub fn objects(
    ns: &str,
    labels: &BTreeMap<String, String>,
    owner: &OwnerReference,
    scope: &[String],
) -> Vec<DesiredObject> {
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
    let binding = |ns: Option<&str>, kind: &str, name: &str| {
        let body = json!({ "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name }, "subjects": subjects });
        apply(if kind == "Role" { "RoleBinding" } else { "ClusterRoleBinding" }, name, ns, body)
    };
    let scoped = !scope.is_empty();
    let cluster = |mode: Mode| if scoped { Mode::Absent } else { mode };
    let mut objects = vec![
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
            cluster(apply("ClusterRole", names::CLUSTER_ROLE, None, json!({ "rules": cluster_rules() }))),
            Ownership::Owned { adopt: false },
        ),
        object(
            rbac("ClusterRoleBinding", "clusterrolebindings"),
            None,
            names::CLUSTER_ROLE,
            cluster(binding(None, "ClusterRole", names::CLUSTER_ROLE)),
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
            binding(Some(ns), "Role", names::ROLE),
            Ownership::Owned { adopt: false },
        ),
    ];
    if scoped {
        let mut namespaces: Vec<&str> = scope.iter().map(String::as_str).collect();
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
        for n in namespaces {
            let rules = if scope.iter().any(|s| s == n) { cluster_rules() } else { own_namespace_rules() };
            let role = apply("Role", names::SCOPED_ROLE, Some(n), json!({ "rules": rules }));
            objects.push(object(
                rbac("Role", "roles"),
                Some(n),
                names::SCOPED_ROLE,
                role,
                Ownership::Owned { adopt: false },
            ));
            let b = binding(Some(n), "Role", names::SCOPED_ROLE);
            objects.push(object(
                rbac("RoleBinding", "rolebindings"),
                Some(n),
                names::SCOPED_ROLE,
                b,
                Ownership::Owned { adopt: false },
            ));
        }
    }
    objects
}
