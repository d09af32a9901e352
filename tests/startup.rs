//! The operator's start-up against a real kube-apiserver + etcd: TektonConfig
//! `config` created when missing (as OpenShift Pipelines does, so seed 002's
//! `oc edit TektonConfig config` finds it) and never changed once there, and
//! the refusal to run beside the OpenShift Pipelines / tektoncd operator.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Env, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, eventually, unique_ns};
use tekton_chains_operator::crd::{TektonChain, TektonConfig};
use tekton_chains_operator::operator::Startup;
use tekton_chains_operator::operator::startup::OTHER_OPERATOR_CRD;

const AUTO: Startup = Startup { auto_install: true, allow_other_operator: false };

async fn config(env: &Env) -> Option<TektonConfig> {
    env.cluster_api::<TektonConfig>().get_opt("config").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tektonconfig_is_created_with_defaults_and_an_existing_one_is_never_changed() {
    let env = Env::new().await;
    let op = env.start_operator_as(env.operator.clone(), AUTO);
    let tc = eventually("TektonConfig config created at start", || async { config(&env).await }).await;
    assert_eq!(tc.spec.target_namespace.as_deref(), Some("openshift-pipelines"));
    assert_eq!(tc.spec.profile.as_deref(), Some("all"));
    eventually("the TektonChain made from it", || async {
        env.cluster_api::<TektonChain>().get_opt("chain").await.ok()?
    })
    .await;

    // Seed 002: `oc edit TektonConfig config`, adding a key to `chain:`.
    let ns = unique_ns("auto");
    let edit = json!({ "spec": { "targetNamespace": ns, "chain": { "artifacts.taskrun.format": "in-toto" } } });
    env.cluster_api::<TektonConfig>().patch("config", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let cms: Api<ConfigMap> = env.api(&ns);
    eventually("the edit reaches chains-config", || async {
        let data = cms.get_opt("chains-config").await.ok()??.data?;
        (data.get("artifacts.taskrun.format").map(String::as_str) == Some("in-toto")).then_some(())
    })
    .await;
    drop(op);

    // A restart finds the admin's TektonConfig and writes nothing to it.
    let edited = config(&env).await.unwrap();
    let op = env.start_operator_as(env.operator.clone(), AUTO);
    eventually("restarted operator reconciled", || async {
        (op.ctx.reconciles.load(std::sync::atomic::Ordering::Relaxed) >= 2).then_some(())
    })
    .await;
    let after = config(&env).await.unwrap();
    assert_eq!(after.spec, edited.spec);
    assert_eq!(after.metadata.generation, edited.metadata.generation, "the spec was not written");
    assert_eq!(after.spec.target_namespace.as_deref(), Some(ns.as_str()));

    // Deleted, it stays deleted until the next start (upstream's
    // auto-install runs at start too).
    env.cluster_api::<TektonConfig>().delete("config", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(config(&env).await.is_none(), "not re-created while running");
    drop(op);

    // Off (AUTOINSTALL_COMPONENTS=false): nothing is created.
    let _op = env.start_operator_as(env.operator.clone(), Startup::default());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(config(&env).await.is_none(), "auto-install off creates no TektonConfig");
}

/// Another operator is detected by its Deployment, or by its installer-set
/// CRD; the operator (in-process and as the binary) refuses to start and
/// says what it found and what to do. `--allow-other-operator` starts it,
/// without creating a TektonConfig.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tekton_operator_stops_the_start_with_a_clear_message() {
    let env = Env::new().await;
    let admin = PostParams::default();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = env.cluster_api();
    let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "tekton-operator" } });
    let _ = ns_api.create(&admin, &serde_json::from_value(ns).unwrap()).await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "tekton-operator", "namespace": "tekton-operator" },
        "spec": { "selector": { "matchLabels": { "app": "tekton-operator" } },
                  "template": { "metadata": { "labels": { "app": "tekton-operator" } },
                                "spec": { "containers": [{ "name": "op", "image": "gcr.io/tekton-releases/operator" }] } } },
    });
    env.api::<Deployment>("tekton-operator")
        .create(&admin, &serde_json::from_value(deployment).unwrap())
        .await
        .unwrap();

    let mut op = env.start_operator_as(env.operator.clone(), AUTO);
    let err = tokio::time::timeout(Duration::from_secs(30), op.ended()).await.expect("start-up refuses at once");
    let message = err.expect_err("refused").to_string();
    assert!(
        message.starts_with("another Tekton operator is installed (Deployment tekton-operator/tekton-operator)"),
        "{message}"
    );
    assert!(message.contains("--allow-other-operator"), "{message}");
    assert!(config(&env).await.is_none(), "no TektonConfig created beside it");

    // The binary, as the operator's ServiceAccount: exits non-zero, saying so.
    let identity = env.token_identity(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator"))
        .args(["operator", "--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &identity.kubeconfig)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("the binary exits").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("another Tekton operator is installed (Deployment tekton-operator/tekton-operator)"),
        "{stderr}"
    );

    // Only its CRD left (an uninstalled operator's, or one whose Deployment
    // has another name): still refused, naming the CRD.
    env.api::<Deployment>("tekton-operator").delete("tekton-operator", &DeleteParams::default()).await.unwrap();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": OTHER_OPERATOR_CRD },
        "spec": { "group": "operator.tekton.dev", "scope": "Cluster",
                  "names": { "kind": "TektonInstallerSet", "plural": "tektoninstallersets", "singular": "tektoninstallerset" },
                  "versions": [{ "name": "v1alpha1", "served": true, "storage": true,
                                 "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } } }] },
    });
    let crds: Api<CustomResourceDefinition> = env.cluster_api();
    crds.create(&admin, &serde_json::from_value(crd).unwrap()).await.unwrap();
    eventually("the Deployment gone", || async {
        env.api::<Deployment>("tekton-operator").get_opt("tekton-operator").await.ok()?.is_none().then_some(())
    })
    .await;
    let mut op = env.start_operator_as(env.operator.clone(), AUTO);
    let err = tokio::time::timeout(Duration::from_secs(30), op.ended()).await.expect("refused at once");
    let message = err.expect_err("refused").to_string();
    assert!(message.contains(&format!("(CustomResourceDefinition {OTHER_OPERATOR_CRD})")), "{message}");

    // Allowed: it starts and reconciles, but creates no TektonConfig.
    let allowed =
        env.start_operator_as(env.operator.clone(), Startup { auto_install: true, allow_other_operator: true });
    let ns = unique_ns("beside");
    let chain = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                        "metadata": { "name": "chain" }, "spec": { "targetNamespace": ns } });
    let chains: Api<TektonChain> = env.cluster_api();
    chains.patch("chain", &PatchParams::apply("test-admin"), &Patch::Apply(&chain)).await.unwrap();
    eventually("TektonChain reconciled", || async {
        let c = chains.get("chain").await.ok()?;
        c.status?.conditions.iter().any(|c| c.type_ == "Installed").then_some(())
    })
    .await;
    assert!(config(&env).await.is_none(), "allowed beside another operator, it creates no TektonConfig");
    assert!(allowed.ctx.applier.writes() > 0);
    drop(allowed);
    env.remove_other_operator().await;
}
