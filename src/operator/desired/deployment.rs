//! The Chains controller Deployment (this image, in `signer` mode) and its metrics Service.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::object::{
    APPLIED_HASH, BuildContext, DesiredObject, Mode, Ownership, START_CONFIG_HASH, api_resource, core, hashed,
    metadata, object, short_hash,
};
use super::overrides::{deployment_override, merge};
use crate::crd::TektonChain;
use crate::tekton::objects as names;

/// Port of `/metrics`.
pub const METRICS_PORT: u16 = 9090;
/// Port of `/healthz` and `/readyz`.
pub const PROBES_PORT: u16 = 8080;

/// Labels that select the controller's pods.
pub fn selector_labels() -> Value {
    json!({
        "app.kubernetes.io/name": "controller",
        "app.kubernetes.io/component": "controller",
        "app.kubernetes.io/instance": "default",
        "app.kubernetes.io/part-of": "tekton-chains",
    })
}

/// The controller's workload, owned by the TektonChain: a Deployment, or a
/// StatefulSet under `statefulset-ordinals`; the other kind comes first, as
/// [`Mode::Absent`].
pub fn deployment(
    chain: &TektonChain,
    ns: &str,
    labels: &BTreeMap<String, String>,
    owner: &OwnerReference,
    ctx: &BuildContext,
) -> Vec<DesiredObject> {
    let spec = &chain.spec;
    let mut pod_labels = selector_labels();
    merge(&mut pod_labels, &json!({ "app": names::CONTROLLER, "app.kubernetes.io/version": ctx.version }));
    let mut meta = metadata(names::DEPLOYMENT, Some(ns), labels, owner);
    merge(&mut meta["labels"], &pod_labels);

    let mut env = json!([
        { "name": "SYSTEM_NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } },
        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
        { "name": "METRICS_DOMAIN", "value": "tekton.dev/chains" },
        { "name": "CONFIG_LOGGING_NAME", "value": names::CONFIG_LOGGING },
        { "name": "CONFIG_OBSERVABILITY_NAME", "value": names::CONFIG_OBSERVABILITY },
        { "name": "CONFIG_LEADERELECTION_NAME", "value": names::CONFIG_LEADER_ELECTION },
    ]);
    let ordinals = statefulset_ordinals(chain);
    if ordinals {
        // Upstream's StatefulSet mode: pod N signs bucket N.
        merge(
            &mut env,
            &json!([
                { "name": "STATEFUL_SERVICE_NAME", "value": names::DEPLOYMENT },
                { "name": "STATEFUL_CONTROLLER_ORDINAL", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
            ]),
        );
    }
    if let Some(extra) = &spec.chain.controller_envs {
        merge(&mut env, &json!(extra));
    }

    let mut args = vec![json!("signer")];
    if let Some(p) = &spec.chain.performance {
        if let Some(t) = p.threads_per_controller {
            args.push(json!(format!("--threads-per-controller={t}")));
        }
        if let Some(q) = p.kube_api_qps {
            args.push(json!(format!("--kube-api-qps={q}")));
        }
        if let Some(b) = p.kube_api_burst {
            args.push(json!(format!("--kube-api-burst={b}")));
        }
    }
    let replicas = spec.chain.performance.as_ref().and_then(|p| p.replicas).unwrap_or(1);
    // Each replica takes its share of the buckets from the start.
    if replicas > 1 {
        args.push(json!(format!("--replicas={replicas}")));
    }
    let resources = match &spec.chain.resources {
        Some(r) => json!(r),
        None => default_resources(),
    };

    let mut mounts = vec![
        json!({ "name": names::SIGNING_SECRET, "mountPath": names::SIGNING_SECRETS_PATH, "readOnly": true }),
        json!({ "name": "oidc-info", "mountPath": "/var/run/sigstore/cosign", "readOnly": true }),
    ];
    // signing-secrets is optional: the operator never pre-creates it (the
    // seeds' `oc create secret generic signing-secrets` must not meet
    // AlreadyExists); the kubelet fills the folder once it exists, and the
    // signer reads it then.
    let mut volumes = vec![
        json!({ "name": names::SIGNING_SECRET, "secret": { "secretName": names::SIGNING_SECRET, "optional": true } }),
        json!({ "name": "oidc-info", "projected": { "sources": [{ "serviceAccountToken": {
            "path": "oidc-token", "expirationSeconds": 600, "audience": "sigstore" } }] } }),
    ];
    // The CA bundles, whole (no subPath, so every key is a file the signer
    // reads) and optional; the signer trusts them for registries.
    for (name, path) in names::CA_BUNDLE_PATHS {
        mounts.push(json!({ "name": name, "mountPath": path, "readOnly": true }));
        volumes.push(json!({ "name": name, "configMap": { "name": name, "optional": true } }));
        args.push(json!(format!("--registry-ca-file={path}")));
    }

    let mut pod_spec = json!({
        "serviceAccountName": names::SERVICE_ACCOUNT,
        "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
        "containers": [{
            "name": names::CONTROLLER,
            "image": ctx.image,
            "args": args,
            "env": env,
            "resources": resources,
            "ports": [
                { "name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP" },
                { "name": "probes", "containerPort": PROBES_PORT, "protocol": "TCP" },
            ],
            "livenessProbe": { "httpGet": { "path": "/healthz", "port": "probes", "scheme": "HTTP" } },
            "readinessProbe": { "httpGet": { "path": "/readyz", "port": "probes", "scheme": "HTTP" } },
            "volumeMounts": mounts,
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "capabilities": { "drop": ["ALL"] },
                "seccompProfile": { "type": "RuntimeDefault" },
            },
        }],
        "volumes": volumes,
    });
    if let Some(placement) = &spec.config {
        if let Some(ns) = &placement.node_selector {
            pod_spec["nodeSelector"] = json!(ns);
        }
        if let Some(t) = &placement.tolerations {
            pod_spec["tolerations"] = json!(t);
        }
        if let Some(p) = &placement.priority_class_name {
            pod_spec["priorityClassName"] = json!(p);
        }
    }

    let [kind, other] = if ordinals { WORKLOAD_KINDS } else { [WORKLOAD_KINDS[1], WORKLOAD_KINDS[0]] };
    let mut body = json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": selector_labels() },
            "template": { "metadata": { "labels": pod_labels }, "spec": pod_spec },
        },
    });
    if ordinals {
        body["spec"]["serviceName"] = json!(names::DEPLOYMENT);
        body["spec"]["podManagementPolicy"] = json!("Parallel");
    }
    if let Some(o) = deployment_override(&spec.chain, names::DEPLOYMENT) {
        merge(&mut body, &o);
    }
    let workload = |kind: &str, mode| {
        let plural = format!("{}s", kind.to_lowercase());
        object(
            api_resource("apps", "v1", kind, &plural),
            Some(ns),
            names::DEPLOYMENT,
            mode,
            Ownership::Owned { adopt: false },
        )
    };
    // The other kind goes first, so the two never sign side by side.
    vec![workload(other, Mode::Absent), workload(kind, Mode::Apply(body))]
}

/// The controller's workload kinds: a Deployment (bucket Leases), or a
/// StatefulSet under `performance.statefulset-ordinals` (pod N signs bucket N).
pub const WORKLOAD_KINDS: [&str; 2] = ["StatefulSet", "Deployment"];

/// Whether the controller runs as a StatefulSet.
pub fn statefulset_ordinals(chain: &TektonChain) -> bool {
    chain.spec.chain.performance.as_ref().and_then(|p| p.statefulset_ordinals) == Some(true)
}

/// The controller Deployment stamped with a hash of the live `data` of the
/// ConfigMaps it reads at start ([`names::READ_AT_START`], in the install's
/// order; `Null` for a missing one), then re-hashed: a CA an injector
/// refreshes, a CA or bucket count changed in the TektonChain, or an edit
/// of the leader-election ConfigMap rolls the controller.
pub fn with_start_config(mut obj: DesiredObject, bundles: &[Value]) -> DesiredObject {
    if let Mode::Apply(body) = &mut obj.mode {
        let hash = short_hash(&Value::Array(bundles.to_vec()).to_string());
        body["spec"]["template"]["metadata"]["annotations"][START_CONFIG_HASH] = json!(hash);
        if let Some(a) = body["metadata"]["annotations"].as_object_mut() {
            a.remove(APPLIED_HASH);
        }
    }
    hashed(obj)
}

/// The controller's resources when the TektonChain sets none: room for one
/// encrypted cosign key's scrypt (32 MiB) on top of the signer's ~25 MiB.
pub fn default_resources() -> Value {
    json!({ "requests": { "cpu": "100m", "memory": "64Mi" }, "limits": { "memory": "256Mi" } })
}

/// The Service in front of the controller's `/metrics`.
pub fn service(ns: &str, labels: &BTreeMap<String, String>, owner: &OwnerReference) -> DesiredObject {
    let body = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(names::SERVICE, Some(ns), labels, owner),
        "spec": {
            "selector": selector_labels(),
            "ports": [{ "name": "http-metrics", "port": METRICS_PORT, "targetPort": METRICS_PORT, "protocol": "TCP" }],
        },
    });
    object(core("Service", "services"), Some(ns), names::SERVICE, Mode::Apply(body), Ownership::Owned { adopt: false })
}
