use kube::api::ObjectMeta;
use serde_json::Value;

use super::*;
use crate::crd::{TektonChain, TektonChainSpec};
use crate::operator::validate::validate;

fn chain(spec: TektonChainSpec) -> TektonChain {
    let mut c = TektonChain::new("chain", spec);
    c.metadata = ObjectMeta { name: Some("chain".into()), uid: Some("uid-1".into()), ..Default::default() };
    c
}

fn build_for(spec: TektonChainSpec) -> Vec<DesiredObject> {
    let c = chain(spec);
    let v = validate(&c.spec).unwrap();
    build(&c, &v, &BuildContext { image: "img:v1".into(), version: "v0.1.0".into() })
}

fn find<'a>(objs: &'a [DesiredObject], kind: &str, name: &str) -> &'a DesiredObject {
    objs.iter().find(|o| o.resource.kind == kind && o.name == name).unwrap_or_else(|| panic!("{kind} {name}"))
}

fn body(o: &DesiredObject) -> &Value {
    match &o.mode {
        Mode::Apply(v) | Mode::ApplyWithSeed { apply: v, .. } | Mode::CreateOnly(v) => v,
        Mode::Absent => panic!("{} is to be absent", o.describe()),
    }
}

#[test]
fn install_has_every_object() {
    let objs = build_for(TektonChainSpec { target_namespace: "openshift-pipelines".into(), ..Default::default() });
    for (kind, name) in [
        ("Namespace", "openshift-pipelines"),
        ("ServiceAccount", "tekton-chains-controller"),
        ("ClusterRole", "tekton-chains-controller-cluster-access"),
        ("ClusterRoleBinding", "tekton-chains-controller-cluster-access"),
        ("Role", "tekton-chains-leader-election"),
        ("RoleBinding", "tekton-chains-leader-election"),
        ("ConfigMap", "chains-config"),
        ("ConfigMap", "config-logging"),
        ("ConfigMap", "tekton-chains-config-observability"),
        ("ConfigMap", "tekton-chains-config-leader-election"),
        ("ConfigMap", "chains-info"),
        ("ConfigMap", "config-trusted-cabundle"),
        ("ConfigMap", "config-service-cabundle"),
        ("Deployment", "tekton-chains-controller"),
        ("Service", "tekton-chains-metrics"),
    ] {
        find(&objs, kind, name);
    }
    // And the StatefulSet, to be absent (statefulset-ordinals is off).
    assert_eq!(objs.len(), 16);
    assert!(matches!(find(&objs, "StatefulSet", "tekton-chains-controller").mode, Mode::Absent));
    // The namespace is never applied over or removed.
    let o = find(&objs, "Namespace", "openshift-pipelines");
    assert!(matches!(o.mode, Mode::CreateOnly(_)) && o.ownership == Ownership::Kept);
    assert!(body(o)["metadata"].get("ownerReferences").is_none());
    // signing-secrets is not pre-created (seed 000's `oc create secret
    // generic signing-secrets` would meet AlreadyExists); the pod mounts it
    // as optional.
    assert!(!objs.iter().any(|o| o.resource.kind == "Secret"));
}

#[test]
fn deployment_runs_signer_with_mount_labels_and_restricted_context() {
    let objs = build_for(TektonChainSpec { target_namespace: "ns".into(), ..Default::default() });
    let d = body(find(&objs, "Deployment", "tekton-chains-controller"));
    assert_eq!(d["metadata"]["labels"]["app"], "tekton-chains-controller");
    assert_eq!(d["metadata"]["labels"]["app.kubernetes.io/part-of"], "tekton-chains");
    assert_eq!(d["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    let pod = &d["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["app"], "tekton-chains-controller");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "img:v1");
    assert_eq!(c["args"][0], "signer");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/signing-secrets");
    assert_eq!(pod["spec"]["volumes"][0]["secret"], json!({ "secretName": "signing-secrets", "optional": true }));
    // The CA bundles OpenShift fills, mounted whole and optional, trusted for registries.
    for (i, (name, path)) in [
        ("config-trusted-cabundle", "/tekton-custom-certs/trusted"),
        ("config-service-cabundle", "/tekton-custom-certs/service"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            pod["spec"]["volumes"][2 + i],
            json!({ "name": name, "configMap": { "name": name, "optional": true } })
        );
        assert_eq!(c["volumeMounts"][2 + i], json!({ "name": name, "mountPath": path, "readOnly": true }));
        assert!(c["args"].as_array().unwrap().contains(&json!(format!("--registry-ca-file={path}"))), "{}", c["args"]);
    }
    let trusted = body(find(&objs, "ConfigMap", "config-trusted-cabundle"));
    assert_eq!(trusted["metadata"]["labels"]["config.openshift.io/inject-trusted-cabundle"], "true");
    let service = body(find(&objs, "ConfigMap", "config-service-cabundle"));
    assert_eq!(service["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"], "true");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["spec"]["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let svc = body(find(&objs, "Service", "tekton-chains-metrics"));
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090);
}

#[test]
fn chains_config_carries_only_cr_keys_and_hash_tracks_changes() {
    let mut spec = TektonChainSpec { target_namespace: "ns".into(), ..Default::default() };
    let a = build_for(spec.clone());
    let cm = body(find(&a, "ConfigMap", "chains-config"));
    assert!(cm.get("data").is_none(), "no keys set, no data owned");
    spec.chain.keys.artifacts_taskrun_format = Some("tekton".into());
    let b = build_for(spec);
    let cm2 = body(find(&b, "ConfigMap", "chains-config"));
    assert_eq!(cm2["data"]["artifacts.taskrun.format"], "tekton");
    assert_ne!(cm["metadata"]["annotations"][APPLIED_HASH], cm2["metadata"]["annotations"][APPLIED_HASH]);
    assert_eq!(build_for(TektonChainSpec { target_namespace: "ns".into(), ..Default::default() }), a, "deterministic");
}

#[test]
fn performance_and_placement_reach_the_deployment() {
    let spec: TektonChainSpec = serde_json::from_value(serde_json::json!({
        "targetNamespace": "ns",
        "performance": { "threads-per-controller": 4, "kube-api-qps": 20.5, "kube-api-burst": 40, "replicas": 2, "buckets": 3 },
        "config": { "nodeSelector": { "role": "infra" }, "priorityClassName": "high" },
        "controllerEnvs": [{ "name": "HTTP_PROXY", "value": "http://proxy:3128" }],
        "options": { "deployments": { "tekton-chains-controller": { "metadata": { "labels": { "team": "sec" } } } } },
    }))
    .unwrap();
    let objs = build_for(spec);
    let d = body(find(&objs, "Deployment", "tekton-chains-controller"));
    assert_eq!(d["spec"]["replicas"], 2);
    let args = &d["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(
        args,
        &serde_json::json!([
            "signer",
            "--threads-per-controller=4",
            "--kube-api-qps=20.5",
            "--kube-api-burst=40",
            "--replicas=2",
            "--registry-ca-file=/tekton-custom-certs/trusted",
            "--registry-ca-file=/tekton-custom-certs/service"
        ])
    );
    assert_eq!(d["spec"]["template"]["spec"]["nodeSelector"]["role"], "infra");
    assert_eq!(d["spec"]["template"]["spec"]["priorityClassName"], "high");
    assert_eq!(d["metadata"]["labels"]["team"], "sec");
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "HTTP_PROXY"));
    let le = body(find(&objs, "ConfigMap", "tekton-chains-config-leader-election"));
    assert_eq!(le["data"]["buckets"], "3");
}

#[test]
fn the_ca_bundles_data_is_stamped_on_the_pod_template_and_rehashed() {
    let objs = build_for(TektonChainSpec { target_namespace: "ns".into(), ..Default::default() });
    let d = find(&objs, "Deployment", "tekton-chains-controller").clone();
    let stamp = |data: Value| {
        let o = with_start_config(d.clone(), &[data, Value::Null]);
        let b = body(&o).clone();
        let ca = b["spec"]["template"]["metadata"]["annotations"][START_CONFIG_HASH].as_str().unwrap().to_string();
        (ca, b["metadata"]["annotations"][APPLIED_HASH].as_str().unwrap().to_string())
    };
    let (a, applied_a) = stamp(serde_json::json!({ "ca-bundle.crt": "A" }));
    assert_eq!(stamp(serde_json::json!({ "ca-bundle.crt": "A" })), (a.clone(), applied_a.clone()), "stable");
    let (b, applied_b) = stamp(serde_json::json!({ "ca-bundle.crt": "B" }));
    assert_ne!(a, b);
    assert_ne!(applied_a, applied_b, "the applied hash covers the stamp");
}

#[test]
fn statefulset_ordinals_make_a_statefulset_whose_pods_each_sign_a_bucket() {
    let spec: TektonChainSpec = serde_json::from_value(serde_json::json!({
        "targetNamespace": "ns",
        "performance": { "statefulset-ordinals": true, "replicas": 3 },
    }))
    .unwrap();
    let objs = build_for(spec);
    let absent = find(&objs, "Deployment", "tekton-chains-controller");
    assert!(matches!(absent.mode, Mode::Absent), "the Deployment goes");
    let position = |kind: &str| objs.iter().position(|o| o.resource.kind == kind).unwrap();
    assert!(position("Deployment") < position("StatefulSet"), "removed before the StatefulSet is applied");
    let st = body(find(&objs, "StatefulSet", "tekton-chains-controller"));
    assert_eq!(find(&objs, "StatefulSet", "tekton-chains-controller").resource.plural, "statefulsets");
    assert_eq!(
        (st["spec"]["replicas"].as_i64(), st["spec"]["serviceName"].as_str()),
        (Some(3), Some("tekton-chains-controller"))
    );
    let env = st["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    let ordinal = env.iter().find(|e| e["name"] == "STATEFUL_CONTROLLER_ORDINAL").unwrap();
    assert_eq!(ordinal["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert!(env.iter().any(|e| e["name"] == "STATEFUL_SERVICE_NAME"));
    let le = body(find(&objs, "ConfigMap", "tekton-chains-config-leader-election"));
    assert_eq!(le["data"]["buckets"], "3", "one bucket per pod");
    // Without it: a Deployment, and no StatefulSet.
    let objs = build_for(serde_json::from_value(serde_json::json!({ "targetNamespace": "ns" })).unwrap());
    assert!(matches!(find(&objs, "StatefulSet", "tekton-chains-controller").mode, Mode::Absent));
    assert!(matches!(find(&objs, "Deployment", "tekton-chains-controller").mode, Mode::Apply(_)));
}

#[test]
fn a_namespace_scope_takes_roles_in_its_namespaces_instead_of_the_clusterrole() {
    use crate::operator::desired::watch_scope;
    let args = |a: serde_json::Value| serde_json::json!({ "spec": { "template": { "spec": { "containers": [{ "name": "tekton-chains-controller", "args": a }] } } } });
    assert_eq!(
        watch_scope(&args(serde_json::json!(["signer", "--namespace=b,a", "--namespace", "c", "--x"]))),
        ["a", "b", "c"]
    );
    assert!(watch_scope(&args(serde_json::json!(["signer"]))).is_empty());
    let spec: TektonChainSpec = serde_json::from_value(serde_json::json!({
        "targetNamespace": "ns",
        "options": { "deployments": { "tekton-chains-controller": { "spec": { "template": { "spec": {
            "containers": [{ "name": "tekton-chains-controller", "args": ["signer", "--namespace=team-a"] }] } } } } } },
    }))
    .unwrap();
    let objs = build_for(spec);
    assert!(matches!(find(&objs, "ClusterRole", "tekton-chains-controller-cluster-access").mode, Mode::Absent));
    assert!(matches!(find(&objs, "ClusterRoleBinding", "tekton-chains-controller-cluster-access").mode, Mode::Absent));
    let scoped: Vec<_> = objs
        .iter()
        .filter(|o| o.name == "tekton-chains-controller-namespace-access")
        .map(|o| (o.resource.kind.as_str(), o.namespace.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(scoped, [("Role", "team-a"), ("RoleBinding", "team-a"), ("Role", "ns"), ("RoleBinding", "ns")]);
    let team = body(objs.iter().find(|o| o.name == "tekton-chains-controller-namespace-access").unwrap());
    assert_eq!(team["rules"][0]["resources"], serde_json::json!(["taskruns", "pipelineruns"]));
    assert_eq!(team["metadata"]["namespace"], "team-a");
}
