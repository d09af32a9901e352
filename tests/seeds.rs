//! The OpenShift Pipelines docs' flow (seed 000, 1.5.1), step by step, with
//! the real cosign and the real tkn (its commands run as written) against
//! the real API server; then `tkn chain payload` / `signature` on an
//! in-toto run.

mod support;

use std::process::Command;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Env, eventually, unique_ns};
use tekton_chains_operator::crd::TektonChain;

/// `oc apply -f TektonChain.yaml`, the seed's TektonChain with targetNamespace `ns`.
async fn apply_tektonchain(env: &Env, ns: &str) -> Api<TektonChain> {
    let chains: Api<TektonChain> = Api::all(env.client.clone());
    let chain = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                        "metadata": { "name": "chain" }, "spec": { "targetNamespace": ns } });
    chains.patch("chain", &PatchParams::apply("kubectl").force(), &Patch::Apply(&chain)).await.unwrap();
    chains
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_000_tekton_format_signature_verifies_with_cosign_and_the_k8s_key() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("cosign");
    let op = env.start_operator();
    let ns = unique_ns("openshift-pipelines");

    let chains = apply_tektonchain(&env, &ns).await;
    eventually("chain installed", || async {
        let s = chains.get("chain").await.ok()?.status?;
        s.conditions.iter().any(|c| c.type_ == "Installed" && c.status == "True").then_some(())
    })
    .await;

    // cosign generate-key-pair k8s://openshift-pipelines/signing-secrets
    let work = std::env::temp_dir().join(unique_ns("seed"));
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(&cosign)
        .args(["generate-key-pair", &format!("k8s://{ns}/signing-secrets")])
        .env("COSIGN_PASSWORD", "seed-password")
        .env("KUBECONFIG", &env.kubeconfig)
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(out.status.success(), "cosign generate-key-pair: {}", String::from_utf8_lossy(&out.stderr));

    // oc patch configmap chains-config -n openshift-pipelines -p='{"data":{...}}'
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let patch = json!({ "data": { "artifacts.oci.storage": "", "artifacts.taskrun.format": "tekton",
                                  "artifacts.taskrun.storage": "tekton" } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();

    // The controller pod (kubelet mounts signing-secrets at /etc/signing-secrets).
    let secret: Secret = Api::namespaced(env.client.clone(), &ns).get("signing-secrets").await.unwrap();
    let mount = work.join("signing-secrets");
    std::fs::create_dir_all(&mount).unwrap();
    for (k, v) in secret.data.unwrap() {
        std::fs::write(mount.join(k), v.0).unwrap();
    }
    let signer = support::start_signer(
        env.token_client(&ns, support::SIGNER_SERVICE_ACCOUNT).await,
        support::signer_options(&ns, &mount, vec![]),
    )
    .await;

    // oc create -f task-output-image.yaml, then the Pipelines controller finishes it.
    let run_ns = support::create_namespace(&env, "builds").await;
    let runs = support::runs_api(&env, &run_ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                     "metadata": { "name": "build-push-run-output-image-qbjvh", "namespace": run_ns },
                     "spec": { "taskSpec": { "steps": [{ "name": "build-and-push", "image": "busybox", "script": "true" }] } } });
    let created = runs.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let uid = created.metadata.uid.unwrap();
    let status = json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:30Z",
        "steps": [{ "name": "build-and-push", "container": "step-build-and-push",
                    "imageID": format!("docker.io/library/busybox@sha256:{}", "c".repeat(64)) }],
        "results": [{ "name": "IMAGE_DIGEST", "type": "string", "value": format!("sha256:{}", "d".repeat(64)) },
                    { "name": "IMAGE_URL", "type": "string", "value": "registry.example/builtimage" }],
    }});
    runs.patch_status("build-push-run-output-image-qbjvh", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    // tkn tr describe --last -o jsonpath=... > signature / | base64 -d > payload
    let annotations = eventually("signed=true", || async {
        let a = runs.get("build-push-run-output-image-qbjvh").await.ok()?.metadata.annotations?;
        (a.get("chains.tekton.dev/signed").map(String::as_str) == Some("true")).then_some(a)
    })
    .await;
    std::fs::write(work.join("signature"), &annotations[&format!("chains.tekton.dev/signature-taskrun-{uid}")])
        .unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&annotations[&format!("chains.tekton.dev/payload-taskrun-{uid}")])
        .unwrap();
    std::fs::write(work.join("payload"), payload).unwrap();

    // cosign verify-blob --key k8s://openshift-pipelines/signing-secrets --signature ./signature ./payload
    let out = Command::new(&cosign)
        .args(["verify-blob", "--insecure-ignore-tlog=true", "--key", &format!("k8s://{ns}/signing-secrets")])
        .args(["--signature", "./signature", "./payload"])
        .env("KUBECONFIG", &env.kubeconfig)
        .current_dir(&work)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("Verified OK"), "{text}");

    // The seed's commands as written, with the real tkn: its current
    // namespace the run's (as `oc project` sets it), the key's namespace ours,
    // and cosign v2's --insecure-ignore-tlog (the seed predates it).
    let seed = format!(
        r#"tkn tr describe --last
export TASKRUN_UID=$(tkn tr describe --last -o jsonpath='{{.metadata.uid}}')
tkn tr describe --last -o jsonpath="{{.metadata.annotations.chains\.tekton\.dev/signature-taskrun-$TASKRUN_UID}}" > signature
tkn tr describe --last -o jsonpath="{{.metadata.annotations.chains\.tekton\.dev/payload-taskrun-$TASKRUN_UID}}" | base64 -d > payload
cosign verify-blob --insecure-ignore-tlog=true --key k8s://{ns}/signing-secrets --signature ./signature ./payload
echo "uid=$TASKRUN_UID""#
    );
    let shell = support::seed_shell(&env, &run_ns, &work.join("tkn"), &[&cosign, &support::tool("tkn")]);
    let (ok, text) = shell(&seed);
    assert!(ok && text.contains("Verified OK") && text.contains(&format!("uid={uid}")), "{text}");
    assert!(text.contains("build-push-run-output-image-qbjvh") && text.contains("Succeeded"), "{text}");

    // tkn chain (deprecated upstream) on an in-toto run: tkn v0.42's Chains
    // (v0.25.1) no longer parses a chains-config in the tekton format.
    let patch = json!({ "data": { "artifacts.taskrun.format": "in-toto" } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    // Runs until one is signed with the config just loaded (in-toto).
    let mut signed_in_toto = None;
    for i in 0..10 {
        let name = format!("second-{i}");
        let run = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                          "metadata": { "name": name, "namespace": run_ns },
                          "spec": { "taskSpec": { "steps": [{ "name": "build-and-push", "image": "busybox", "script": "true" }] } } });
        let created = runs.create(&PostParams::default(), &serde_json::from_value(run).unwrap()).await.unwrap();
        runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
        let a = eventually(&format!("{name} signed"), || async {
            let a = runs.get(&name).await.ok()?.metadata.annotations?;
            (a.get("chains.tekton.dev/signed").map(String::as_str) == Some("true")).then_some(a)
        })
        .await;
        let uid = created.metadata.uid.unwrap();
        let b64 = |k: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(&a[&format!("chains.tekton.dev/{k}-taskrun-{uid}")])
                .unwrap()
        };
        let statement: serde_json::Value = serde_json::from_slice(&b64("payload")).unwrap();
        if statement["predicateType"] == "https://slsa.dev/provenance/v0.2" {
            let envelope: serde_json::Value = serde_json::from_slice(&b64("signature")).unwrap();
            signed_in_toto = Some((name, statement, envelope));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let (second, statement, envelope) = signed_in_toto.expect("a run signed in-toto after the config change");
    // tkn chain payload -S: the statement; tkn chain signature: the envelope,
    // which cosign verifies against the key in signing-secrets.
    let (ok, text) = shell(&format!("tkn chain payload -S {second} --chains-namespace {ns} 2>/dev/null"));
    assert!(ok, "{text}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(text.trim()).unwrap(), statement, "{text}");
    let (ok, text) = shell(&format!("tkn chain signature {second} --chains-namespace {ns} 2>/dev/null"));
    assert!(ok, "{text}");
    let printed: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(printed[0], envelope, "tkn chain signature prints the run's envelope");
    std::fs::write(work.join("tkn/att.json"), printed[0].to_string()).unwrap();
    let (ok, text) = shell(&format!(
        "cosign verify-blob-attestation --insecure-ignore-tlog --key k8s://{ns}/signing-secrets \\
  --signature att.json --type slsaprovenance --check-claims=false /dev/null"
    ));
    assert!(ok && text.contains("Verified OK"), "{text}");
    // Its verifier (without -S) loads the key from the current folder (with
    // none there it verifies nothing and passes), then reads the DSSE
    // envelope as a raw ECDSA signature, as it would upstream's own
    // (identical) annotation: it fails.
    for key in ["cosign.key", "cosign.pub", "cosign.password"] {
        std::fs::copy(mount.join(key), work.join("tkn").join(key)).unwrap();
    }
    let (ok, text) = shell(&format!("tkn chain payload {second} --chains-namespace {ns}"));
    assert!(!ok && text.contains("Invalid IEEE_P1363"), "{text}");
    drop(signer);
    drop(op);
}

/// Seed 000's "Troubleshooting signing" and seed 002's key set-up, with the
/// real kubectl (as `oc`) and cosign: no empty signing-secrets is in the
/// way of `oc create secret generic`, a second create meets the seed's
/// AlreadyExists, `oc delete secret` then a new key work as the seed says,
/// and each change shows in the SigningSecret condition at once (the Secret
/// is watched), not at the next resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_000_signing_secret_create_delete_recreate_as_written() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("cosign");
    let _op = env.start_operator();
    let ns = unique_ns("openshift-pipelines");
    let chains = apply_tektonchain(&env, &ns).await;
    let signing_secret = |status: &'static str| {
        let chains = chains.clone();
        async move {
            let started = std::time::Instant::now();
            let message = eventually(&format!("SigningSecret={status}"), || async {
                let s = chains.get("chain").await.ok()?.status?;
                let c = s.conditions.into_iter().find(|c| c.type_ == "SigningSecret" && c.status == status)?;
                Some(c.message)
            })
            .await;
            // Far below the 300 s resync: the watch brought it.
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{message}");
            message
        }
    };
    let message = signing_secret("False").await;
    assert!(message.contains("does not exist"), "{message}");

    let work = std::env::temp_dir().join(unique_ns("seed-secret"));
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(support::tool("kubectl"), bin.join("oc")).unwrap();
    let shell = support::seed_shell(&env, &ns, &work, &[&cosign, &bin.join("oc")]);
    // x509: an unencrypted PKCS8 ECDSA key (seed 000, 1.4.1).
    let (ok, text) = shell("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out x509.pem");
    assert!(ok, "{text}");
    let create = format!("oc create secret generic signing-secrets --from-file=x509.pem -n {ns}");
    let (ok, text) = shell(&create);
    assert!(ok && text.contains("secret/signing-secrets created"), "{text}");
    let message = signing_secret("True").await;
    assert!(message.contains("holds x509.pem"), "{message}");

    // "If the signing secrets are already populated, you might get the
    // following error: Error from server (AlreadyExists): secrets
    // "signing-secrets" already exists" (kubectl 1.36 words it "error:
    // failed to create secret secrets "signing-secrets" already exists").
    let (ok, text) = shell(&create);
    assert!(!ok && text.contains(r#"secrets "signing-secrets" already exists"#), "{text}");
    // "Delete the secrets", then "recreate the key pairs": the operator does
    // not put an empty one back in between.
    let (ok, text) = shell(&format!("oc delete secret signing-secrets -n {ns}"));
    assert!(ok && text.contains(r#"secret "signing-secrets" deleted"#), "{text}");
    let message = signing_secret("False").await;
    assert!(message.contains("does not exist"), "{message}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    assert!(secrets.get_opt("signing-secrets").await.unwrap().is_none(), "not re-created by the operator");
    let (ok, text) =
        shell(&format!("COSIGN_PASSWORD=seed-password cosign generate-key-pair k8s://{ns}/signing-secrets"));
    assert!(ok, "{text}");
    let message = signing_secret("True").await;
    assert!(message.contains("holds cosign.key"), "{message}");
}
