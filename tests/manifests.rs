//! The install manifests in config/ against a real API server, and the
//! operator running with exactly the permissions they grant.

mod support;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::Discovery;
use serde::Deserialize;
use serde_json::json;
use support::{Env, eventually, unique_ns};
use tekton_chains_operator::crd::TektonChain;
use tekton_chains_operator::operator::{self, Context, Options};

fn kubectl(env: &Env, args: &[&str]) -> (bool, String) {
    support::run_tool(env, "kubectl", args)
}

/// The objects of `kubectl kustomize config/default`.
fn read_manifests(env: &Env) -> Vec<DynamicObject> {
    let (ok, text) = kubectl(env, &["kustomize", "config/default"]);
    assert!(ok, "{text}");
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        if !v.is_null() {
            out.push(serde_yaml::from_value(v).unwrap());
        }
    }
    out
}

/// `kubectl apply -k` of the install and of the samples, as a server-side
/// dry run: the API server validates every object (the samples against the
/// CRDs), and nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomize_install_and_samples_pass_a_server_dry_run() {
    let env = Env::new().await;
    // A server dry run cannot put objects in a namespace it only pretends to create.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    if namespaces.get_opt("tekton-chains-operator").await.unwrap().is_none() {
        let ns = serde_json::from_value(json!({ "metadata": { "name": "tekton-chains-operator" } })).unwrap();
        namespaces.create(&Default::default(), &ns).await.unwrap();
    }
    let (ok, out) = kubectl(&env, &["apply", "-k", "config/default", "--dry-run=server"]);
    assert!(ok, "{out}");
    assert!(out.contains("deployment.apps/tekton-chains-operator "), "{out}");
    assert!(out.lines().filter(|l| !l.starts_with("Warning:")).all(|l| l.ends_with("(server dry run)")), "{out}");
    let (ok, out) = kubectl(&env, &["apply", "-k", "config/samples", "--dry-run=server"]);
    assert!(ok, "{out}");
    assert!(out.contains("tektonconfig.operator.tekton.dev/config created (server dry run)"), "{out}");
    assert!(out.contains("tektonchain.operator.tekton.dev/chain created (server dry run)"), "{out}");
    let configs: Api<tekton_chains_operator::crd::TektonConfig> = Api::all(env.client.clone());
    assert!(configs.get_opt("config").await.unwrap().is_none(), "a dry run keeps nothing");
    // The chains-config patch is valid config.
    let patch: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../config/samples/chains-config-patch.yaml")).unwrap();
    let data: std::collections::BTreeMap<String, String> = serde_yaml::from_value(patch["data"].clone()).unwrap();
    tekton_chains_operator::config::ChainsConfig::parse(&data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_manifests_apply_and_grant_the_operator_enough() {
    let env = Env::new().await;
    let discovery = Discovery::new(env.client.clone()).run().await.unwrap();
    for obj in read_manifests(&env) {
        let gvk = kube::core::GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
        let (ar, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("unknown kind {gvk:?}"));
        let api: Api<DynamicObject> = match caps.scope {
            kube::discovery::Scope::Namespaced => {
                Api::namespaced_with(env.client.clone(), &obj.namespace().unwrap(), &ar)
            }
            kube::discovery::Scope::Cluster => Api::all_with(env.client.clone(), &ar),
        };
        api.patch(&obj.name_any(), &PatchParams::apply("tests").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("applying {} {}: {e}", gvk.kind, obj.name_any()));
    }

    // Run the operator as its ServiceAccount: the API server refuses any
    // object (or any RBAC grant) the ClusterRole does not cover.
    let as_operator = env.token_client("tekton-chains-operator", "tekton-chains-operator").await;
    let opts = Options {
        signer_image: "img".into(),
        default_namespace: "openshift-pipelines".into(),
        startup: Default::default(),
    };
    let ctx = std::sync::Arc::new(Context::new(as_operator.clone(), &opts));
    let task = tokio::spawn(operator::run_with(as_operator, ctx));

    let ns = unique_ns("rbac");
    let chains: Api<TektonChain> = Api::all(env.client.clone());
    let body = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                       "metadata": { "name": "chain" }, "spec": { "targetNamespace": ns, "generateSigningSecret": true } });
    chains.patch("chain", &PatchParams::apply("tests").force(), &Patch::Apply(&body)).await.unwrap();
    let status = eventually("installed by the operator's own identity", || async {
        let c = chains.get("chain").await.ok()?;
        let s = c.status?;
        let installed = s.conditions.iter().find(|c| c.type_ == "Installed")?;
        let secret = s.conditions.iter().find(|c| c.type_ == "SigningSecret")?;
        (installed.status == "True" && secret.status == "True").then_some(s)
    })
    .await;
    assert!(status.conditions.iter().all(|c| !c.message.contains("forbidden")), "{status:?}");
    task.abort();
}

/// The signer running as the ServiceAccount the operator installs, with
/// exactly the RBAC the operator grants it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_works_with_the_rbac_the_operator_grants() {
    let env = Env::new().await;
    let op = env.start_operator();
    let ns = unique_ns("sa");
    let chains: Api<TektonChain> = Api::all(env.client.clone());
    let body = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain", "metadata": { "name": "chain" },
                       "spec": { "targetNamespace": ns } });
    chains.patch("chain", &PatchParams::apply("tests").force(), &Patch::Apply(&body)).await.unwrap();
    eventually("installed", || async {
        let s = chains.get("chain").await.ok()?.status?;
        s.conditions.iter().any(|c| c.type_ == "Installed" && c.status == "True").then_some(())
    })
    .await;
    drop(op);

    let as_signer = env.token_client(&ns, "tekton-chains-controller").await;
    let keys = std::env::temp_dir().join(unique_ns("sa-keys"));
    std::fs::create_dir_all(&keys).unwrap();
    let g = tekton_chains_operator::signing::generate_cosign_key_pair().unwrap();
    std::fs::write(keys.join("cosign.key"), g.private_pem.as_bytes()).unwrap();
    std::fs::write(keys.join("cosign.password"), g.password.as_bytes()).unwrap();
    let signer = support::start_signer(as_signer, support::signer_options(&ns, &keys, vec![])).await;

    // A run in another namespace that built an image, under a ServiceAccount
    // with a pull secret: the signer reads both and pushes the signature.
    let run_ns = support::create_namespace(&env, "sa-runs").await;
    let regs = support::registry::registries();
    let repo = format!("rbac/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let secret = json!({ "metadata": { "name": "pull", "namespace": run_ns }, "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": base64::Engine::encode(&base64::engine::general_purpose::STANDARD,
                   br#"{"auths":{"registry.example":{"auth":"dTpw"}}}"#) } });
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), &run_ns)
        .create(&Default::default(), &serde_json::from_value(secret).unwrap())
        .await
        .unwrap();
    let sa =
        json!({ "metadata": { "name": "builder", "namespace": run_ns }, "imagePullSecrets": [{ "name": "pull" }] });
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(env.client.clone(), &run_ns)
        .create(&Default::default(), &serde_json::from_value(sa).unwrap())
        .await
        .unwrap();
    let runs = support::runs_api(&env, &run_ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": "r", "namespace": run_ns },
                     "spec": { "taskRef": { "name": "t" }, "serviceAccountName": "builder" } });
    runs.create(&Default::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    eventually("finalizer added by the signer's identity", || async {
        runs.get("r").await.ok()?.metadata.finalizers?.iter().any(|f| f == "chains.tekton.dev/taskrun").then_some(())
    })
    .await;
    let status = json!({ "status": { "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                                     "completionTime": "2026-11-23T10:00:00Z",
                                     "results": [{ "name": "IMAGE_URL", "value": format!("{}/{repo}", regs.open) },
                                                 { "name": "IMAGE_DIGEST", "value": digest }] } });
    runs.patch_status("r", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    eventually("signed by the signer's identity", || async {
        let a = runs.get("r").await.ok()?.metadata.annotations?;
        (a.get("chains.tekton.dev/signed").map(String::as_str) == Some("true")).then_some(())
    })
    .await;
    let sig = regs.manifest(&regs.open, &repo, &format!("{}.sig", digest.replace(':', "-"))).await;
    assert!(sig.is_some(), "the image signature was pushed");
    let m = signer.signer.metrics.render();
    // The run's ServiceAccount, its Secret's type (a Table, no data), the
    // Secret (for another registry), then, as nothing matched this registry,
    // the signer's own ServiceAccount (no secrets), with the operator's RBAC.
    assert!(m.contains("signer_secret_reads_total 4"), "the ServiceAccounts and the Secret: {m}");
    drop(signer);
}
