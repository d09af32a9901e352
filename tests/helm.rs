//! The Helm chart (helm/tekton-chains-operator) with the real helm:
//! lint, template, and install / upgrade / uninstall on the real API server.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::Api;
use serde::Deserialize;
use support::{Env, eventually, run_tool, unique_ns};
use tekton_chains_operator::crd::TektonChain;

const CHART: &str = "helm/tekton-chains-operator";

fn helm(env: &Env, args: &[&str]) -> String {
    let (ok, out) = run_tool(env, "helm", args);
    assert!(ok, "helm {args:?}: {out}");
    out
}

/// The objects `helm template` renders with `sets`.
fn template(env: &Env, sets: &[&str]) -> Vec<serde_yaml::Value> {
    let mut args = vec!["template", "chains", CHART, "--namespace", "chains-operator"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = helm(env, &args);
    serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(objs: &'a [serde_yaml::Value], kind: &str) -> Vec<&'a serde_yaml::Value> {
    objs.iter().filter(|o| o["kind"].as_str() == Some(kind)).collect()
}

fn env_var<'a>(deploy: &'a serde_yaml::Value, name: &str) -> &'a str {
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].as_sequence().unwrap();
    env.iter().find(|e| e["name"].as_str() == Some(name)).unwrap()["value"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_and_renders_its_values() {
    let env = Env::new().await;
    let out = helm(&env, &["lint", "--strict", CHART]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let out = helm(&env, &["lint", "--strict", CHART, "--set", "openshift.enabled=true,embeddedSigner.enabled=true"]);
    assert!(out.contains("0 chart(s) failed"), "{out}");

    let objs = template(&env, &[]);
    let crds = of_kind(&objs, "CustomResourceDefinition");
    assert_eq!(crds.len(), 2);
    assert!(crds.iter().all(|c| c["metadata"]["annotations"]["helm.sh/resource-policy"].as_str() == Some("keep")));
    let deploy = of_kind(&objs, "Deployment")[0];
    assert_eq!(env_var(deploy, "DEFAULT_TARGET_NAMESPACE"), "tekton-pipelines");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
        Some("tekton-chains-operator:v0.1.0")
    );
    let sc = &deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(of_kind(&objs, "Service").len(), 1);
    assert!(of_kind(&objs, "ServiceMonitor").is_empty() && of_kind(&objs, "TektonChain").is_empty());

    let objs = template(
        &env,
        &[
            "openshift.enabled=true",
            "installCRDs=false",
            "metrics.serviceMonitor.enabled=true",
            "tektonConfig.create=true",
        ],
    );
    assert!(of_kind(&objs, "CustomResourceDefinition").is_empty());
    assert_eq!(env_var(of_kind(&objs, "Deployment")[0], "DEFAULT_TARGET_NAMESPACE"), "openshift-pipelines");
    assert_eq!(of_kind(&objs, "ServiceMonitor").len(), 1);
    assert_eq!(of_kind(&objs, "TektonConfig")[0]["spec"]["targetNamespace"].as_str(), Some("openshift-pipelines"));

    // The chart grants what the kustomize install grants, no more, no less.
    let kustomize: serde_yaml::Value = serde_yaml::from_str(include_str!("../config/rbac/cluster_role.yaml")).unwrap();
    assert_eq!(of_kind(&objs, "ClusterRole")[0]["rules"], kustomize["rules"]);

    let objs = template(&env, &["embeddedSigner.enabled=true"]);
    let c = &of_kind(&objs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"][0].as_str(), Some("run"));
    assert_eq!(c["volumeMounts"][0]["mountPath"].as_str(), Some("/etc/signing-secrets"));
}

/// `helm install` with a TektonChain, the operator installs Chains from it,
/// `helm upgrade` changes the Deployment, `helm uninstall` removes the
/// release and keeps the signing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_uninstall_keep_the_signing_key() {
    let env = Env::new().await;
    let ns = unique_ns("helm");
    let target = unique_ns("helm-target");
    let chain_ns = format!("tektonChain.spec.targetNamespace={target}");
    // Cluster-wide objects of the same name that another test applied with kubectl.
    let dp = kube::api::DeleteParams::default();
    let _ = Api::<ClusterRole>::all(env.client.clone()).delete("tekton-chains-operator", &dp).await;
    let _ = Api::<ClusterRoleBinding>::all(env.client.clone()).delete("tekton-chains-operator", &dp).await;
    // The test cluster has the CRDs already (not Helm's), hence installCRDs=false.
    let out = helm(
        &env,
        &[
            "install",
            "chains",
            CHART,
            "--namespace",
            &ns,
            "--create-namespace",
            "--set",
            "installCRDs=false,image.repository=registry.local/tco,image.tag=t1",
            "--set",
            "nodeSelector.kubernetes\\.io/os=linux,resources.limits.memory=256Mi",
            "--set",
            "tektonChain.create=true,tektonChain.spec.generateSigningSecret=true",
            "--set",
            &chain_ns,
        ],
    );
    assert!(out.contains("STATUS: deployed"), "{out}");
    let deploys: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let d = deploys.get("tekton-chains-operator").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("registry.local/tco:t1"));
    assert_eq!(pod.node_selector.unwrap()["kubernetes.io/os"], "linux");
    assert_eq!(c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0, "256Mi");
    let signer_image = c.env.as_ref().unwrap().iter().find(|e| e.name == "CHAINS_SIGNER_IMAGE").unwrap();
    assert_eq!(signer_image.value.as_deref(), Some("registry.local/tco:t1"));

    // The operator (in-process here: no kubelet) installs Chains from the
    // chart's TektonChain. As the admin: `helm uninstall` deletes the chart's
    // ClusterRoleBinding together with the TektonChain, so an operator with the
    // chart's ServiceAccount could no longer remove its finalizer (a known gap,
    // see the hardening issue's note).
    let _op = env.start_operator_with(env.client.clone());
    let chains: Api<TektonChain> = Api::all(env.client.clone());
    eventually("TektonChain installed", || async {
        let s = chains.get("chain").await.ok()?.status?;
        s.conditions.iter().any(|c| c.type_ == "Installed" && c.status == "True").then_some(())
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &target);
    let key = eventually("generated signing key", || async {
        let s = secrets.get("signing-secrets").await.ok()?;
        s.data.filter(|d| d.contains_key("cosign.key"))
    })
    .await;

    let out = helm(&env, &["upgrade", "chains", CHART, "--namespace", &ns, "--reuse-values", "--set", "image.tag=t2"]);
    assert!(out.contains("STATUS: deployed") && out.contains("REVISION: 2"), "{out}");
    let d = deploys.get("tekton-chains-operator").await.unwrap();
    assert_eq!(d.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("registry.local/tco:t2"));

    let out = helm(&env, &["uninstall", "chains", "--namespace", &ns]);
    assert!(out.contains("uninstalled"), "{out}");
    assert!(deploys.get_opt("tekton-chains-operator").await.unwrap().is_none());
    eventually("TektonChain gone", || async { chains.get_opt("chain").await.ok()?.is_none().then_some(()) }).await;
    let kept = secrets.get("signing-secrets").await.unwrap().data.unwrap();
    assert_eq!(kept, key, "the signing key is left as it was");
}
