//! The operator loop against a real kube-apiserver + etcd.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use support::{Env, eventually, unique_ns};
use tekton_chains_operator::crd::{TektonChain, TektonConfig};

const PM: &str = "test-admin";

async fn apply_chain(env: &Env, name: &str, spec: Value) {
    let api: Api<TektonChain> = env.cluster_api();
    let body = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                       "metadata": { "name": name }, "spec": spec });
    api.patch(name, &PatchParams::apply(PM).force(), &Patch::Apply(&body)).await.unwrap();
}

async fn apply_config(env: &Env, spec: Value) {
    let api: Api<TektonConfig> = env.cluster_api();
    let body = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonConfig",
                       "metadata": { "name": "config" }, "spec": spec });
    api.patch("config", &PatchParams::apply(PM).force(), &Patch::Apply(&body)).await.unwrap();
}

/// Waits for a condition of TektonChain `name` to reach `status`; returns its (reason, message).
async fn chain_condition(env: &Env, name: &str, type_: &str, status: &str) -> (String, String) {
    let api: Api<TektonChain> = env.cluster_api();
    eventually(&format!("TektonChain {name} {type_}={status}"), || async {
        let c = api.get(name).await.ok()?;
        let s = c.status?;
        if s.observed_generation != c.metadata.generation {
            return None;
        }
        let cond = s.conditions.into_iter().find(|x| x.type_ == type_ && x.status == status)?;
        Some((cond.reason, cond.message))
    })
    .await
}

async fn config_condition(env: &Env, type_: &str, status: &str, reason: &str) -> String {
    let api: Api<TektonConfig> = env.cluster_api();
    eventually(&format!("TektonConfig {type_}={status} {reason}"), || async {
        let c = api.get("config").await.ok()?;
        let cond = c.status?.conditions.into_iter().find(|x| x.type_ == type_)?;
        (cond.status == status && cond.reason == reason).then_some(cond.message)
    })
    .await
}

/// Reports the Deployment available, as kubelet and controller-manager would.
async fn make_deployment_available(env: &Env, ns: &str) {
    let api: Api<Deployment> = env.api(ns);
    let d = eventually("Deployment exists", || async { api.get("tekton-chains-controller").await.ok() }).await;
    let status = json!({ "status": {
        "observedGeneration": d.metadata.generation, "replicas": 1, "readyReplicas": 1,
        "availableReplicas": 1, "updatedReplicas": 1,
        "conditions": [{ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                         "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z", "lastUpdateTime": "2026-01-01T00:00:00Z" }],
    }});
    api.patch_status("tekton-chains-controller", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

async fn config_data(env: &Env, ns: &str) -> BTreeMap<String, String> {
    let api: Api<ConfigMap> = env.api(ns);
    api.get("chains-config").await.unwrap().data.unwrap_or_default()
}

fn owned_by(obj: &impl kube::Resource, uid: &str) -> bool {
    obj.owner_references().iter().any(|o| o.uid == uid && o.controller == Some(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_tektonchain_installs_everything_and_becomes_ready() {
    let env = Env::new().await;
    let op = env.start_operator();
    let ns = unique_ns("seed");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let (reason, msg) = chain_condition(&env, "chain", "Ready", "False").await;
    assert_eq!(reason, "DeploymentNotAvailable", "{msg}");

    let chain: TektonChain = env.cluster_api().get("chain").await.unwrap();
    let uid = chain.uid().unwrap();
    assert_eq!(chain.status.as_ref().unwrap().version.as_deref(), Some("v0.1.0"));

    let d: Deployment = env.api(&ns).get("tekton-chains-controller").await.unwrap();
    assert!(owned_by(&d, &uid));
    let labels = d.labels();
    assert_eq!(labels["app"], "tekton-chains-controller");
    assert_eq!(labels["app.kubernetes.io/part-of"], "tekton-chains");
    let pod = d.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("registry.local/chains:test"));
    assert_eq!(c.args.as_ref().unwrap()[0], "signer");
    let mount = c.volume_mounts.as_ref().unwrap().iter().find(|m| m.name == "signing-secrets").unwrap();
    assert_eq!(mount.mount_path, "/etc/signing-secrets");
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(pod.service_account_name.as_deref(), Some("tekton-chains-controller"));

    let svc: Service = env.api(&ns).get("tekton-chains-metrics").await.unwrap();
    assert!(owned_by(&svc, &uid));
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 9090);
    let sa: ServiceAccount = env.api(&ns).get("tekton-chains-controller").await.unwrap();
    assert!(owned_by(&sa, &uid));
    for name in [
        "chains-config",
        "config-logging",
        "tekton-chains-config-observability",
        "tekton-chains-config-leader-election",
        "chains-info",
    ] {
        // Shared with users: no ownerReference (garbage collection would
        // take their keys), marked as created by the operator.
        let cm: ConfigMap = env.api(&ns).get(name).await.unwrap();
        assert!(cm.metadata.owner_references.is_none(), "{name}");
        assert_eq!(cm.annotations()["operator.tekton.dev/created-by"], "tekton-chains-operator", "{name}");
        assert_eq!(cm.labels()["app.kubernetes.io/part-of"], "tekton-chains", "{name}");
    }
    let info: ConfigMap = env.api(&ns).get("chains-info").await.unwrap();
    assert_eq!(info.data.unwrap()["version"], "v0.1.0");
    let role: Role = env.api(&ns).get("tekton-chains-leader-election").await.unwrap();
    assert!(owned_by(&role, &uid));
    let rb: RoleBinding = env.api(&ns).get("tekton-chains-leader-election").await.unwrap();
    assert!(owned_by(&rb, &uid));
    let crb: ClusterRoleBinding = env.cluster_api().get("tekton-chains-controller-cluster-access").await.unwrap();
    assert!(owned_by(&crb, &uid));
    assert_eq!(crb.subjects.unwrap()[0].namespace.as_deref(), Some(ns.as_str()));
    // No signing Secret is pre-created: the admin creates it (seeds 000, 002).
    assert!(env.api::<Secret>(&ns).get_opt("signing-secrets").await.unwrap().is_none());
    let (reason, msg) = chain_condition(&env, "chain", "SigningSecret", "False").await;
    assert_eq!(reason, "NoKey");
    assert!(msg.contains("does not exist: create it (cosign generate-key-pair"), "{msg}");

    make_deployment_available(&env, &ns).await;
    chain_condition(&env, "chain", "Ready", "True").await;

    // Any other name is refused with a clear condition.
    apply_chain(&env, "other", json!({ "targetNamespace": ns })).await;
    let (reason, msg) = chain_condition(&env, "other", "Ready", "False").await;
    assert_eq!(reason, "InvalidName");
    assert_eq!(msg, "Only one instance of TektonChain is allowed by name, chain");
    let m = op.ctx.metrics.render();
    assert!(m.contains(r#"operator_reconciles_total{kind="TektonChain"}"#), "{m}");
    // Errors are counted only when a reconcile fails (a unit test covers the family);
    // whether one failed here depends on timing, so it is not asserted.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tektonconfig_chain_keys_reach_tektonchain_and_chains_config() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("tc");
    apply_config(&env, json!({
        "targetNamespace": ns, "profile": "all", "addon": {},
        "chain": { "artifacts.taskrun.format": "in-toto", "artifacts.oci.storage": "oci", "transparency.enabled": true },
    }))
    .await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let chain: TektonChain = env.cluster_api().get("chain").await.unwrap();
    assert_eq!(chain.spec.target_namespace, ns);
    let keys = chain.spec.chain.keys.to_config_data();
    assert_eq!(keys["artifacts.taskrun.format"], "in-toto");
    assert_eq!(keys["transparency.enabled"], "true");
    let tc: TektonConfig = env.cluster_api().get("config").await.unwrap();
    assert!(owned_by(&chain, &tc.uid().unwrap()));

    let data = config_data(&env, &ns).await;
    assert_eq!(data["artifacts.taskrun.format"], "in-toto");
    assert_eq!(data["artifacts.oci.storage"], "oci");
    assert_eq!(data["transparency.enabled"], "true");

    config_condition(&env, "ChainReady", "False", "DeploymentNotAvailable").await;
    make_deployment_available(&env, &ns).await;
    config_condition(&env, "Ready", "True", "Ready").await;

    // A change in TektonConfig flows through.
    apply_config(&env, json!({ "targetNamespace": ns, "chain": { "artifacts.taskrun.format": "slsa/v2alpha4" } }))
        .await;
    eventually("chains-config follows TektonConfig", || async {
        let d = config_data(&env, &ns).await;
        (d.get("artifacts.taskrun.format").map(String::as_str) == Some("slsa/v2alpha4")
            && !d.contains_key("transparency.enabled"))
        .then_some(())
    })
    .await;

    // Another name for TektonConfig is refused.
    let api: Api<TektonConfig> = env.cluster_api();
    let other = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonConfig",
                        "metadata": { "name": "other" }, "spec": {} });
    api.patch("other", &PatchParams::apply(PM), &Patch::Apply(&other)).await.unwrap();
    let msg = eventually("TektonConfig other refused", || async {
        let c = api.get("other").await.ok()?;
        let cond = c.status?.conditions.into_iter().find(|x| x.type_ == "Ready")?;
        (cond.reason == "InvalidName").then_some(cond.message)
    })
    .await;
    assert_eq!(msg, "Only one instance of TektonConfig is allowed by name, config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_disabled_removes_chain_and_objects_but_keeps_the_key() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("off");
    apply_config(&env, json!({ "targetNamespace": ns, "chain": {} })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    // The admin stores a key, as `cosign generate-key-pair k8s://ns/signing-secrets` does.
    let secrets: Api<Secret> = env.api(&ns);
    let key = json!({ "metadata": { "name": "signing-secrets" },
                      "data": { "cosign.key": b64("KEY"), "cosign.password": b64("pw"), "cosign.pub": b64("PUB") } });
    secrets.create(&Default::default(), &serde_json::from_value(key).unwrap()).await.unwrap();

    apply_config(&env, json!({ "targetNamespace": ns, "chain": { "disabled": true } })).await;
    let chains: Api<TektonChain> = env.cluster_api();
    eventually("TektonChain deleted", || async { chains.get_opt("chain").await.ok()?.is_none().then_some(()) }).await;
    let deployments: Api<Deployment> = env.api(&ns);
    let cms: Api<ConfigMap> = env.api(&ns);
    let svcs: Api<Service> = env.api(&ns);
    let sas: Api<ServiceAccount> = env.api(&ns);
    let crbs: Api<ClusterRoleBinding> = env.cluster_api();
    assert!(deployments.get_opt("tekton-chains-controller").await.unwrap().is_none());
    assert!(cms.get_opt("chains-config").await.unwrap().is_none());
    assert!(svcs.get_opt("tekton-chains-metrics").await.unwrap().is_none());
    assert!(sas.get_opt("tekton-chains-controller").await.unwrap().is_none());
    assert!(crbs.get_opt("tekton-chains-controller-cluster-access").await.unwrap().is_none());
    let kept = secrets.get("signing-secrets").await.unwrap().data.unwrap();
    assert_eq!(kept["cosign.key"], ByteString(b"KEY".to_vec()));
    let msg = config_condition(&env, "ChainReady", "True", "Disabled").await;
    assert!(msg.contains("signing-secrets holds a signing key and was kept"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_patched_keys_survive_and_cr_keys_win() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("patch");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "artifacts.taskrun.format": "tekton" })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    // The seeds' flow: `kubectl patch configmap chains-config ...`
    let cms: Api<ConfigMap> = env.api(&ns);
    let patch = json!({ "data": { "artifacts.oci.storage": "", "artifacts.taskrun.format": "in-toto",
                                  "artifacts.taskrun.storage": "tekton" } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    // A reconcile (triggered by a spec change) keeps the user's keys, and the CR's key wins.
    apply_chain(
        &env,
        "chain",
        json!({ "targetNamespace": ns, "artifacts.taskrun.format": "tekton",
                                       "transparency.enabled": "manual" }),
    )
    .await;
    let data = eventually("CR keys applied", || async {
        let d = config_data(&env, &ns).await;
        (d.get("transparency.enabled").map(String::as_str) == Some("manual")
            && d.get("artifacts.taskrun.format").map(String::as_str) == Some("tekton"))
        .then_some(d)
    })
    .await;
    assert_eq!(data["artifacts.oci.storage"], "");
    assert_eq!(data["artifacts.taskrun.storage"], "tekton");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_give_clear_conditions_and_change_nothing() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("bad");
    apply_config(&env, json!({ "targetNamespace": ns, "chain": { "artifacts.taskrun.format": "tekton" } })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let before: ConfigMap = env.api(&ns).get("chains-config").await.unwrap();

    apply_config(&env, json!({ "targetNamespace": ns, "chain": {
        "artifacts.taskrun.format": "foo", "transparency.enabled": "maybe", "artifacts.taskrun.storage": "tekton,s3" } }))
    .await;
    chain_condition(&env, "chain", "ConfigValid", "False").await;
    let (reason, msg) = chain_condition(&env, "chain", "Ready", "False").await;
    assert_eq!(reason, "InvalidValue");
    for needle in [
        r#"spec.artifacts.taskrun.format: invalid value "foo"; allowed: "in-toto", "slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4", "tekton""#,
        r#"spec.transparency.enabled: invalid value "maybe"; allowed: true, false, manual"#,
        r#"spec.artifacts.taskrun.storage: invalid value "s3"; allowed: a comma-separated list of "tekton""#,
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
    let tc_msg = config_condition(&env, "Ready", "False", "InvalidValue").await;
    assert!(tc_msg.starts_with("TektonChain chain: spec.artifacts.taskrun.format: invalid value \"foo\""), "{tc_msg}");
    let after: ConfigMap = env.api(&ns).get("chains-config").await.unwrap();
    assert_eq!(after.resource_version(), before.resource_version(), "chains-config must not change");
    assert_eq!(after.data, before.data);

    // What the schema can check, the API server refuses at once, naming the field.
    let api: Api<TektonChain> = env.cluster_api();
    let bad = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain", "metadata": { "name": "chain" },
                      "spec": { "targetNamespace": ns, "performance": { "kube-api-qps": -1 } } });
    let err = api.patch("chain", &PatchParams::apply(PM).force(), &Patch::Apply(&bad)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("spec.performance.kube-api-qps") && text.contains("greater than or equal to 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_signing_secret_creates_a_key_once_and_never_touches_it_again() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("gen");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "generateSigningSecret": true })).await;
    let (reason, _) = chain_condition(&env, "chain", "SigningSecret", "True").await;
    assert!(reason == "Generated" || reason == "KeyPresent");
    let secrets: Api<Secret> = env.api(&ns);
    let first = secrets.get("signing-secrets").await.unwrap();
    let data = first.data.clone().unwrap();
    let key = &data["cosign.key"].0;
    let public = String::from_utf8(data["cosign.pub"].0.clone()).unwrap();
    let password = &data["cosign.password"].0;
    assert!(String::from_utf8_lossy(key).starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let pair = SigStoreKeyPair::from_encrypted_pem(key, password).expect("decrypts with cosign.password");
    assert_eq!(pair.public_key_to_pem().unwrap().replace("\r\n", "\n"), public, "private key matches cosign.pub");
    if let Some(cosign) = support::cosign() {
        support::cosign_sign_and_verify(&cosign, key, password, public.as_bytes());
    }

    // Another reconcile, then a flag flip: the key stays exactly as it is.
    apply_chain(
        &env,
        "chain",
        json!({ "targetNamespace": ns, "generateSigningSecret": true,
                                       "artifacts.taskrun.format": "tekton" }),
    )
    .await;
    chain_condition(&env, "chain", "Installed", "True").await;
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "generateSigningSecret": false })).await;
    let (reason, msg) = chain_condition(&env, "chain", "SigningSecret", "True").await;
    assert_eq!(reason, "KeyPresent");
    assert!(msg.contains("never changes it"), "{msg}");
    let now = secrets.get("signing-secrets").await.unwrap();
    assert_eq!(now.resource_version(), first.resource_version());
    assert_eq!(now.data, first.data);
}

/// An empty signing-secrets the admin made (`oc create secret generic
/// signing-secrets`) is filled in place, not replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_signing_secret_fills_an_empty_secret_of_the_admins() {
    let env = Env::new().await;
    let ns = support::create_namespace(&env, "fill").await;
    let secrets: Api<Secret> = env.api(&ns);
    let empty = json!({ "metadata": { "name": "signing-secrets", "labels": { "mine": "yes" } } });
    let made = secrets.create(&Default::default(), &serde_json::from_value(empty).unwrap()).await.unwrap();
    let _op = env.start_operator();
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "generateSigningSecret": true })).await;
    let (reason, _) = chain_condition(&env, "chain", "SigningSecret", "True").await;
    assert!(reason == "Generated" || reason == "KeyPresent");
    let filled = secrets.get("signing-secrets").await.unwrap();
    assert_eq!(filled.uid(), made.uid(), "the same Secret");
    assert_eq!(filled.labels()["mine"], "yes");
    let data = filled.data.unwrap();
    assert!(["cosign.key", "cosign.pub", "cosign.password"].iter().all(|k| data.contains_key(*k)), "{data:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_namespace_change_moves_the_install() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let (a, b) = (unique_ns("from"), unique_ns("to"));
    apply_chain(&env, "chain", json!({ "targetNamespace": a, "generateSigningSecret": true })).await;
    chain_condition(&env, "chain", "SigningSecret", "True").await;
    apply_chain(&env, "chain", json!({ "targetNamespace": b, "generateSigningSecret": true })).await;
    eventually("install moved", || async {
        let chain: TektonChain = env.cluster_api().get("chain").await.ok()?;
        (chain.status?.installed_namespace.as_deref() == Some(b.as_str())).then_some(())
    })
    .await;
    let new: Api<Deployment> = env.api(&b);
    assert!(new.get_opt("tekton-chains-controller").await.unwrap().is_some());
    let old: Api<Deployment> = env.api(&a);
    assert!(old.get_opt("tekton-chains-controller").await.unwrap().is_none());
    let old_cm: Api<ConfigMap> = env.api(&a);
    assert!(old_cm.get_opt("chains-config").await.unwrap().is_none());
    let old_secret: Api<Secret> = env.api(&a);
    assert!(old_secret.get_opt("signing-secrets").await.unwrap().is_some(), "the old key is never deleted");
    let crb: ClusterRoleBinding = env.cluster_api().get("tekton-chains-controller-cluster-access").await.unwrap();
    assert_eq!(crb.subjects.unwrap()[0].namespace.as_deref(), Some(b.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_restart_causes_no_writes() {
    let env = Env::new().await;
    let ns = unique_ns("calm");
    {
        let _op = env.start_operator();
        apply_config(
            &env,
            json!({ "targetNamespace": ns, "chain": { "artifacts.taskrun.format": "in-toto",
                                                                     "generateSigningSecret": true } }),
        )
        .await;
        chain_condition(&env, "chain", "Installed", "True").await;
        make_deployment_available(&env, &ns).await;
        config_condition(&env, "Ready", "True", "Ready").await;
    }
    let snapshot = versions(&env, &ns).await;
    let op = env.start_operator();
    eventually("restarted operator reconciled both resources", || async {
        (op.ctx.reconciles.load(std::sync::atomic::Ordering::Relaxed) >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(op.ctx.applier.writes(), 0, "a restart must not write");
    assert_eq!(versions(&env, &ns).await, snapshot);
}

/// resourceVersions of everything the install is made of.
async fn versions(env: &Env, ns: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chain: TektonChain = env.cluster_api().get("chain").await.unwrap();
    out.push(("chain".into(), chain.resource_version().unwrap()));
    let tc: TektonConfig = env.cluster_api().get("config").await.unwrap();
    out.push(("config".into(), tc.resource_version().unwrap()));
    let cms: Api<ConfigMap> = env.api(ns);
    for cm in cms.list(&Default::default()).await.unwrap() {
        out.push((cm.name_any(), cm.resource_version().unwrap()));
    }
    let d: Deployment = env.api(ns).get("tekton-chains-controller").await.unwrap();
    out.push(("deployment".into(), d.resource_version().unwrap()));
    let s: Secret = env.api(ns).get("signing-secrets").await.unwrap();
    out.push(("secret".into(), s.resource_version().unwrap()));
    let svc: Service = env.api(ns).get("tekton-chains-metrics").await.unwrap();
    out.push(("service".into(), svc.resource_version().unwrap()));
    out
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Keys a user set by hand in chains-config, and a default they changed in
/// config-logging, survive disable, enable, and the TektonChain's deletion;
/// the keys the CR set go; ConfigMaps with nothing of the user's left are
/// deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hand_edits_survive_disable_enable_and_uninstall() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("handedit");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "transparency.enabled": "true" })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let cms: Api<ConfigMap> = env.api(&ns);
    let hand = json!({ "data": { "artifacts.taskrun.format": "tekton", "example.note": "mine" } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&hand)).await.unwrap();
    let level = json!({ "data": { "loglevel.controller": "debug" } });
    cms.patch("config-logging", &PatchParams::default(), &Patch::Merge(&level)).await.unwrap();

    let kept = |data: BTreeMap<String, String>| {
        data.get("artifacts.taskrun.format").map(String::as_str) == Some("tekton")
            && data.get("example.note").map(String::as_str) == Some("mine")
    };
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "transparency.enabled": "true", "disabled": true }))
        .await;
    chain_condition(&env, "chain", "Ready", "True").await;
    let sa: Api<ServiceAccount> = env.api(&ns);
    eventually("owned objects removed", || async {
        sa.get_opt("tekton-chains-controller").await.ok()?.is_none().then_some(())
    })
    .await;
    let cc = cms.get("chains-config").await.unwrap();
    let data = cc.data.clone().unwrap_or_default();
    assert!(kept(data.clone()), "hand-set keys kept on disable: {data:?}");
    assert!(!data.contains_key("transparency.enabled"), "the CR's key went: {data:?}");
    assert!(cc.metadata.owner_references.is_none());
    assert_eq!(cms.get("config-logging").await.unwrap().data.unwrap()["loglevel.controller"], "debug");
    for untouched in ["tekton-chains-config-observability", "tekton-chains-config-leader-election", "chains-info"] {
        assert!(cms.get_opt(untouched).await.unwrap().is_none(), "{untouched}: nothing of the user's, deleted");
    }

    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "transparency.enabled": "true" })).await;
    eventually("re-enabled with both the user's and the CR's keys", || async {
        let d = cms.get("chains-config").await.ok()?.data?;
        (kept(d.clone()) && d.get("transparency.enabled").map(String::as_str) == Some("true")).then_some(())
    })
    .await;

    let chains: Api<TektonChain> = env.cluster_api();
    chains.delete("chain", &Default::default()).await.unwrap();
    eventually("TektonChain gone", || async { chains.get_opt("chain").await.ok()?.is_none().then_some(()) }).await;
    let d = cms.get("chains-config").await.unwrap().data.unwrap_or_default();
    assert!(kept(d.clone()) && !d.contains_key("transparency.enabled"), "{d:?}");
    assert_eq!(cms.get("config-logging").await.unwrap().data.unwrap()["loglevel.controller"], "debug");
}

/// Objects of the install's names that the operator did not create are not
/// adopted (no forced apply takes them over) and so never deleted; a Secret
/// holding only cosign.pub is never filled over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_the_operator_did_not_create_are_never_adopted_or_overwritten() {
    let env = Env::new().await;
    let ns = unique_ns("foreign");
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = env.cluster_api();
    nss.create(&Default::default(), &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap())
        .await
        .unwrap();
    let sa: Api<ServiceAccount> = env.api(&ns);
    let theirs = json!({ "metadata": { "name": "tekton-chains-controller", "namespace": ns, "labels": { "owner": "someone-else" } } });
    sa.create(&Default::default(), &serde_json::from_value(theirs).unwrap()).await.unwrap();
    let deployments: Api<Deployment> = env.api(&ns);
    let foreign = json!({ "metadata": { "name": "tekton-chains-controller", "namespace": ns },
        "spec": { "selector": { "matchLabels": { "app": "x" } },
                  "template": { "metadata": { "labels": { "app": "x" } }, "spec": { "containers": [{ "name": "x", "image": "x" }] } } } });
    deployments.create(&Default::default(), &serde_json::from_value(foreign).unwrap()).await.unwrap();
    let secrets: Api<Secret> = env.api(&ns);
    let pub_only = json!({ "metadata": { "name": "signing-secrets", "namespace": ns },
                           "stringData": { "cosign.pub": "-----BEGIN PUBLIC KEY-----\nMINE\n-----END PUBLIC KEY-----\n" } });
    secrets.create(&Default::default(), &serde_json::from_value(pub_only).unwrap()).await.unwrap();

    let _op = env.start_operator();
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "generateSigningSecret": true })).await;
    let (reason, message) = chain_condition(&env, "chain", "Installed", "False").await;
    assert_eq!(reason, "NotOwned", "{message}");
    assert!(
        message.contains(&format!("ServiceAccount {ns}/tekton-chains-controller"))
            && message.contains("not created by this operator"),
        "{message}"
    );
    let live = sa.get("tekton-chains-controller").await.unwrap();
    assert!(live.metadata.owner_references.is_none() && live.labels()["owner"] == "someone-else", "not taken over");

    // Uninstall leaves what was theirs.
    let chains: Api<TektonChain> = env.cluster_api();
    chains.delete("chain", &Default::default()).await.unwrap();
    eventually("TektonChain gone", || async { chains.get_opt("chain").await.ok()?.is_none().then_some(()) }).await;
    assert_eq!(sa.get("tekton-chains-controller").await.unwrap().labels()["owner"], "someone-else");
    let d = deployments.get("tekton-chains-controller").await.unwrap();
    assert_eq!(d.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("x"), "theirs, untouched");

    // Theirs removed: the operator installs, but never fills a Secret that holds cosign.pub.
    sa.delete("tekton-chains-controller", &Default::default()).await.unwrap();
    deployments.delete("tekton-chains-controller", &Default::default()).await.unwrap();
    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "generateSigningSecret": true })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let (reason, message) = chain_condition(&env, "chain", "SigningSecret", "False").await;
    assert_eq!(reason, "PartialKey", "{message}");
    assert!(message.contains("cosign.pub"), "{message}");
    let data = secrets.get("signing-secrets").await.unwrap().data.unwrap();
    assert!(!data.contains_key("cosign.key"));
    assert!(String::from_utf8_lossy(&data["cosign.pub"].0).contains("MINE"));
}

/// A CA bundle that changes (here as OpenShift's service CA operator
/// writes it, not through the TektonChain) rolls the controller: its pod
/// template's CA hash changes, since the controller reads CAs at start. An
/// unchanged one writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_ca_bundle_rolls_the_controller() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("cabundle");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let deployments: Api<Deployment> = env.api(&ns);
    let hash = || async {
        let d = deployments.get("tekton-chains-controller").await.ok()?;
        d.spec?.template.metadata?.annotations?.get("operator.tekton.dev/start-config-hash").cloned()
    };
    let before = eventually("the CA hash", hash).await;
    let cms: Api<ConfigMap> = env.api(&ns);
    let injected =
        json!({ "data": { "service-ca.crt": "-----BEGIN CERTIFICATE-----\nSERVICE\n-----END CERTIFICATE-----\n" } });
    cms.patch("config-service-cabundle", &PatchParams::apply("service-ca-operator"), &Patch::Merge(&injected))
        .await
        .unwrap();
    let after = eventually("a new CA hash", || async { hash().await.filter(|h| *h != before) }).await;
    // The injected data stays (it is not the operator's), and the hash with it.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(hash().await, Some(after));
    let data = cms.get("config-service-cabundle").await.unwrap().data.unwrap();
    assert!(data["service-ca.crt"].contains("SERVICE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn performance_buckets_and_replicas_reach_the_leader_election_configmap_and_roll_the_controller() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("buckets");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let deployments: Api<Deployment> = env.api(&ns);
    let template = || async {
        let d = deployments.get("tekton-chains-controller").await.ok()?;
        let spec = d.spec?;
        let hash = spec.template.metadata?.annotations?.get("operator.tekton.dev/start-config-hash").cloned()?;
        let args = spec.template.spec?.containers.first()?.args.clone()?;
        Some((hash, args, spec.replicas))
    };
    let (before, args, replicas) = eventually("the controller", template).await;
    assert!(!args.iter().any(|a| a.starts_with("--replicas")), "{args:?}");
    assert_eq!(replicas, Some(1));
    let cms: Api<ConfigMap> = env.api(&ns);
    let seeded = cms.get("tekton-chains-config-leader-election").await.unwrap().data.unwrap();
    assert_eq!((seeded["buckets"].as_str(), seeded["lease-duration"].as_str()), ("1", "60s"), "upstream's defaults");

    apply_chain(&env, "chain", json!({ "targetNamespace": ns, "performance": { "buckets": 6, "replicas": 3 } })).await;
    let (hash, args, _) = eventually("buckets and replicas applied", || async {
        template().await.filter(|(h, _, r)| *h != before && *r == Some(3))
    })
    .await;
    assert!(args.contains(&"--replicas=3".to_string()), "{args:?}");
    let data = cms.get("tekton-chains-config-leader-election").await.unwrap().data.unwrap();
    assert_eq!(data["buckets"], "6");

    // An admin's edit of upstream's ConfigMap (read at start) rolls the controller too.
    let edit = json!({ "data": { "lease-duration": "20s", "renew-deadline": "15s", "retry-period": "5s" } });
    cms.patch("tekton-chains-config-leader-election", &PatchParams::apply("admin"), &Patch::Merge(&edit))
        .await
        .unwrap();
    eventually("the edit rolls the controller", || async { template().await.filter(|(h, _, _)| *h != hash) }).await;
    let data = cms.get("tekton-chains-config-leader-election").await.unwrap().data.unwrap();
    assert_eq!((data["buckets"].as_str(), data["lease-duration"].as_str()), ("6", "20s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statefulset_ordinals_swap_the_deployment_for_a_statefulset_and_back() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("ordinals");
    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    make_deployment_available(&env, &ns).await;
    chain_condition(&env, "chain", "Ready", "True").await;
    let deployments: Api<Deployment> = env.api(&ns);
    let statefulsets: Api<StatefulSet> = env.api(&ns);

    let ordinals = json!({ "targetNamespace": ns, "performance": { "statefulset-ordinals": true, "replicas": 2 } });
    apply_chain(&env, "chain", ordinals).await;
    let st = eventually("the StatefulSet", || async {
        statefulsets.get_opt("tekton-chains-controller").await.ok().flatten()
    })
    .await;
    eventually("the Deployment gone", || async {
        deployments.get_opt("tekton-chains-controller").await.ok().flatten().is_none().then_some(())
    })
    .await;
    let spec = st.spec.unwrap();
    assert_eq!((spec.replicas, spec.service_name.as_deref()), (Some(2), Some("tekton-chains-controller")));
    let env_vars = spec.template.spec.unwrap().containers[0].env.clone().unwrap();
    assert!(env_vars.iter().any(|e| e.name == "STATEFUL_CONTROLLER_ORDINAL"));
    let cms: Api<ConfigMap> = env.api(&ns);
    let le = cms.get("tekton-chains-config-leader-election").await.unwrap().data.unwrap();
    assert_eq!(le["buckets"], "2");
    chain_condition(&env, "chain", "Ready", "False").await;
    // The kubelet and the StatefulSet controller: both pods up.
    let status = json!({ "status": { "observedGeneration": st.metadata.generation, "replicas": 2, "readyReplicas": 2,
                                     "availableReplicas": 2, "updatedReplicas": 2, "currentReplicas": 2 } });
    statefulsets
        .patch_status("tekton-chains-controller", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    chain_condition(&env, "chain", "Ready", "True").await;

    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    eventually("the Deployment back and the StatefulSet gone", || async {
        let d = deployments.get_opt("tekton-chains-controller").await.ok().flatten();
        let s = statefulsets.get_opt("tekton-chains-controller").await.ok().flatten();
        (d.is_some() && s.is_none()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namespace_scope_gets_roles_instead_of_the_clusterrole_and_the_signer_works_with_them() {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("scope");
    let (team_a, team_b) =
        (support::create_namespace(&env, "team-a").await, support::create_namespace(&env, "team-b").await);
    let scoped = |watch: &str| {
        json!({ "targetNamespace": ns, "artifacts.taskrun.storage": "tekton", "artifacts.oci.storage": "",
                "options": { "deployments": { "tekton-chains-controller": { "spec": { "template": { "spec": {
                    "containers": [{ "name": "tekton-chains-controller",
                                     "args": ["signer", format!("--namespace={watch}"), "--leader-election=false"] }] } } } } } } })
    };
    apply_chain(&env, "chain", scoped(&format!("{team_a},{team_b}"))).await;
    chain_condition(&env, "chain", "Installed", "True").await;
    let role = "tekton-chains-controller-namespace-access";
    let roles = |n: &str| -> Api<Role> { env.api(n) };
    let bindings = |n: &str| -> Api<RoleBinding> { env.api(n) };
    for n in [&team_a, &team_b] {
        let r =
            eventually("a Role in each watched namespace", || async { roles(n).get_opt(role).await.ok().flatten() })
                .await;
        let rules = serde_json::to_value(r.rules.unwrap()).unwrap().to_string();
        assert!(rules.contains("taskruns"), "{rules}");
        let b = bindings(n).get(role).await.unwrap();
        assert_eq!(b.subjects.unwrap()[0].namespace.as_deref(), Some(ns.as_str()));
    }
    let own = roles(&ns).get(role).await.unwrap();
    let own_rules = serde_json::to_value(own.rules.unwrap()).unwrap().to_string();
    assert!(
        !own_rules.contains("taskruns") && own_rules.contains("secrets"),
        "its own namespace: credentials and Events only"
    );
    let crbs: Api<ClusterRoleBinding> = env.cluster_api();
    let crs: Api<ClusterRole> = env.cluster_api();
    eventually("no ClusterRole or binding for a scoped signer", || async {
        let none = crbs.get_opt("tekton-chains-controller-cluster-access").await.ok()?.is_none()
            && crs.get_opt("tekton-chains-controller-cluster-access").await.ok()?.is_none();
        none.then_some(())
    })
    .await;

    // The real binary, as the installed ServiceAccount, with the Deployment's own
    // arguments: the Roles are all it needs to sign a run in team-a.
    let deployments: Api<Deployment> = env.api(&ns);
    let d = deployments.get("tekton-chains-controller").await.unwrap();
    let mut args = d.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
    let keys = support::cosign_keys(&support::cosign().expect("cosign (COSIGN_BIN)"));
    args.extend([
        format!("--system-namespace={ns}"),
        format!("--signing-secrets-dir={}", keys.display()),
        "--metrics-addr=127.0.0.1:0".into(),
        "--probes-addr=127.0.0.1:0".into(),
    ]);
    let identity = env.token_identity(&ns, "tekton-chains-controller").await;
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let signer = support::spawn_binary(&identity, &[], &arg_refs);
    support::runs::finished_taskrun(&env, &team_a, "scoped", json!({}), json!([])).await;
    let runs = support::runs_api(&env, &team_a, "TaskRun");
    eventually("the run in team-a signed", || async {
        let a = runs.get("scoped").await.ok()?.metadata.annotations?;
        (a.get("chains.tekton.dev/signed")? == "true").then_some(())
    })
    .await;
    let log = signer.output();
    assert!(!log.contains("403") && !log.contains("forbidden"), "{log}");
    drop(signer);

    // Narrowed to team-a: team-b's Role and binding go.
    apply_chain(&env, "chain", scoped(&team_a)).await;
    eventually("team-b's Role gone", || async {
        let gone =
            roles(&team_b).get_opt(role).await.ok()?.is_none() && bindings(&team_b).get_opt(role).await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    assert!(roles(&team_a).get_opt(role).await.unwrap().is_some());

    // Unscoped again: the ClusterRole is back, the scoped Roles go.
    apply_chain(&env, "chain", json!({ "targetNamespace": ns })).await;
    eventually("the ClusterRoleBinding back and the scoped Roles gone", || async {
        let back = crbs.get_opt("tekton-chains-controller-cluster-access").await.ok()?.is_some();
        let gone = roles(&team_a).get_opt(role).await.ok()?.is_none() && roles(&ns).get_opt(role).await.ok()?.is_none();
        (back && gone).then_some(())
    })
    .await;
}
