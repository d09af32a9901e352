//! `make bench`, signing identities case: the signer (release build, a real
//! process) signing N finished TaskRuns (in-toto, `tekton` storage, no
//! transparency log) with a local P-256 key, a Vault Transit key
//! (hashivault://), an AWS KMS key (awskms://, local-kms) and keyless with a
//! Fulcio certificate, side by side in one run, A B C D D C B A order (means
//! reported). Prints runs signed per second, KMS and Fulcio requests per
//! run, and peak RSS. Asserts nothing about speed.

mod support;

use std::path::Path;
use std::time::Instant;

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{SignerProcess, Table, apply_yaml, ar, client, env_file, namespace, workers};

fn n() -> usize {
    std::env::var("BENCH_IDENTITY_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

#[derive(Default, Clone, Copy)]
struct Figures {
    rate: f64,
    kms: f64,
    fulcio: f64,
    failures: f64,
    rss: f64,
}

/// One identity: its label and the signing keys of its chains-config.
struct Case {
    label: &'static str,
    keys: Value,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = std::env::var("BENCH_KUBECONFIG").expect("BENCH_KUBECONFIG (make bench sets it)");
    let (vault, fulcio) = (env_file("BENCH_VAULT_ENV"), env_file("BENCH_FULCIO_ENV"));
    let _ = env_file("BENCH_LOCAL_KMS_ENV"); // exported into this process (and the signers) by hack/bench.sh
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../tests/fixtures/tekton-crds.yaml")).await;
    let token_dir = std::env::temp_dir().join(format!("bench-identities-{}", std::process::id()));
    std::fs::create_dir_all(&token_dir).unwrap();
    let cases = [
        Case { label: "local key", keys: json!({}) },
        Case {
            label: "Vault Transit",
            keys: json!({ "artifacts.taskrun.signer": "kms", "signers.kms.kmsref": "hashivault://chains-p256",
                "signers.kms.auth.address": vault["VAULT_ADDR"], "signers.kms.auth.token": vault["VAULT_TOKEN"] }),
        },
        Case {
            label: "AWS KMS",
            keys: json!({ "artifacts.taskrun.signer": "kms", "signers.kms.kmsref": "awskms:///alias/chains-p256" }),
        },
        Case {
            label: "Fulcio",
            keys: json!({ "signers.x509.fulcio.enabled": "true", "signers.x509.fulcio.address": fulcio["FULCIO_URL"] }),
        },
    ];
    let n = n();
    println!("bench identities: N={n} TaskRuns per pass; in-toto, tekton storage, no transparency log");
    let keys = support::p256_keys("bench-identity-keys");
    let order = [0, 1, 2, 3, 3, 2, 1, 0];
    let mut sums = [Figures::default(); 4];
    for (pass, &c) in order.iter().enumerate() {
        eprintln!("bench identities: pass {} of {}: {} ...", pass + 1, order.len(), cases[c].label);
        let f = pass_once(&client, &kubeconfig, &keys, &token_dir, &cases[c], pass, n).await;
        let s = &mut sums[c];
        s.rate += f.rate / 2.0;
        s.kms += f.kms / 2.0;
        s.fulcio += f.fulcio / 2.0;
        s.failures += f.failures;
        s.rss = s.rss.max(f.rss);
    }
    println!();
    let table = Table { name_width: 40, cell_width: 15, cases: &sums };
    table.header("signing identity", cases.iter().map(|c| c.label));
    table.row("runs signed per second", |x| format!("{:.1}", x.rate));
    table.row("KMS requests per run (target 1.00)", |x| format!("{:.2}", x.kms));
    table.row("Fulcio requests per run", |x| format!("{:.3}", x.fulcio));
    table.row("failed attempts", |x| format!("{:.0}", x.failures));
    table.row("peak RSS (VmHWM), MiB", |x| format!("{:.1}", x.rss));
    let local = sums[0].rate;
    table.row("rate vs local key", |x| format!("{:.2}x", x.rate / local));
    println!(
        "({} signer workers; means of 2 passes per case, order A B C D D C B A; rates include process start; \
         KMS requests include the one public key fetch per process)",
        workers()
    );
}

/// N finished runs in a namespace of their own, then a signer for them.
async fn pass_once(
    client: &Client,
    kubeconfig: &str,
    keys: &Path,
    token_dir: &Path,
    case: &Case,
    pass: usize,
    n: usize,
) -> Figures {
    let ns = format!("bench-id-{}-{pass}", std::process::id());
    let mut config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "tekton",
                             "artifacts.oci.storage": "" });
    for (k, v) in case.keys.as_object().unwrap() {
        config[k] = v.clone();
    }
    if case.label == "Fulcio" {
        let file = token_dir.join(format!("token-{pass}"));
        config["signers.x509.identity.token.file"] = json!(file.to_str().unwrap());
        namespace(client, &ns, config).await;
        std::fs::write(&file, sa_token(client, &ns).await).unwrap();
    } else {
        namespace(client, &ns, config).await;
    }
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar());
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("t-{i:05}");
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name },
                    "spec": { "taskRef": { "name": "test" }, "params": [{ "name": "run", "value": format!("{pass}-{i}") }] } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
                let status = json!({ "status": {
                    "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                    "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:10Z" } });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let bin = env!("CARGO_BIN_EXE_tekton-chains-operator");
    let mut signer = SignerProcess::start(bin.as_ref(), kubeconfig, &ns, keys, 19900 + 10 * pass as u16);
    let secs = signer.wait_signed(n, Instant::now()).await;
    let f = Figures {
        rate: n as f64 / secs,
        kms: signer.metric("signer_kms_requests_total") / n as f64,
        fulcio: signer.metric("signer_fulcio_requests_total") / n as f64,
        failures: signer.metric("watcher_taskrun_signing_failures_total"),
        rss: signer.peak_rss_mib(),
    };
    drop(signer);
    api.delete_collection(&Default::default(), &Default::default()).await.unwrap();
    f
}

/// A token of the signer's ServiceAccount in `ns`, audience sigstore (what
/// its projected volume holds).
async fn sa_token(client: &Client, ns: &str) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sa = tekton_chains_operator::tekton::objects::SERVICE_ACCOUNT;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let _ = sas
        .create(&PostParams::default(), &serde_json::from_value(json!({ "metadata": { "name": sa } })).unwrap())
        .await;
    let spec = TokenRequestSpec {
        audiences: Some(vec!["sigstore".into()]),
        expiration_seconds: Some(3600),
        ..Default::default()
    };
    let req = TokenRequest { spec: Some(spec), ..Default::default() };
    sas.create_token_request(sa, &PostParams::default(), &req).await.unwrap().status.unwrap().token.unwrap()
}
