//! The Chains controller Deployment (this image, in `signer` mode) and its metrics Service.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::object::{
    APPLIED_HASH, BuildContext, CA_BUNDLES_HASH, DesiredObject, Mode, Ownership, api_resource, core, hashed, metadata,
    object, short_hash,
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

/// The controller Deployment, owned by the TektonChain.
pub fn deployment(
    chain: &TektonChain,
    ns: &str,
    labels: &BTreeMap<String, String>,
    owner: &OwnerReference,
    ctx: &BuildContext,
) -> DesiredObject {
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

    let mut body = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": selector_labels() },
            "template": { "metadata": { "labels": pod_labels }, "spec": pod_spec },
        },
    });
    if let Some(o) = deployment_override(&spec.chain, names::DEPLOYMENT) {
        merge(&mut body, &o);
    }
    object(
        api_resource("apps", "v1", "Deployment", "deployments"),
        Some(ns),
        names::DEPLOYMENT,
        Mode::Apply(body),
        Ownership::Owned { adopt: false },
    )
}

/// The controller Deployment stamped with a hash of the CA bundles' live
/// `data` (in [`names::CA_BUNDLE_PATHS`] order; `Null` for a missing one),
/// then re-hashed: a CA an injector refreshes, or one changed in the
/// TektonChain, rolls the controller.
pub fn with_ca_bundles(mut obj: DesiredObject, bundles: &[Value]) -> DesiredObject {
    if let Mode::Apply(body) = &mut obj.mode {
        let hash = short_hash(&Value::Array(bundles.to_vec()).to_string());
        body["spec"]["template"]["metadata"]["annotations"][CA_BUNDLES_HASH] = json!(hash);
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
