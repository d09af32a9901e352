//! `make bench`, OCI case: the signer (release build, a real process)
//! signing N TaskRuns that each built one image in a real local registry,
//! with `oci` storage for both the image signature and the TaskRun's
//! attestation; once against the open registry (plain http, no auth) and
//! once against the one behind TLS + htpasswd. Prints images signed per
//! second, registry requests per image (counted in the registry's own access
//! log, by our User-Agent), Secret reads per run and peak RSS. Asserts
//! nothing about speed.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde_json::json;
use support::{SignerProcess, Table, apply_yaml, ar, client, namespace, workers};
use tekton_chains_operator::storage::oci::registry::USER_AGENT;

fn n() -> usize {
    std::env::var("BENCH_OCI_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// One of the two test registries.
struct Registry {
    label: &'static str,
    host: String,
    /// Its access log (written by hack/registry.sh's distribution).
    log: PathBuf,
    /// CA and credentials, for the TLS one.
    tls: Option<(PathBuf, String, String)>,
}

impl Registry {
    fn auth(&self) -> RegistryAuth {
        match &self.tls {
            Some((_, u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// Pushes `n` one-layer images to `bench/app-<i>`; returns their digests.
    async fn push_images(&self, n: usize) -> Vec<String> {
        let config = ClientConfig {
            protocol: if self.tls.is_some() { ClientProtocol::Https } else { ClientProtocol::Http },
            extra_root_certificates: self
                .tls
                .iter()
                .map(|(ca, _, _)| Certificate { encoding: CertificateEncoding::Pem, data: std::fs::read(ca).unwrap() })
                .collect(),
            use_monolithic_push: true,
            ..Default::default()
        };
        support::push_images(config, &self.auth(), &self.host, "bench/app", n).await
    }

    /// Requests with our User-Agent in the registry's access log (its
    /// Apache-style lines; the `msg=` lines repeat each request).
    fn our_requests(&self) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().filter(|l| l.contains(USER_AGENT) && !l.contains("msg=")).count()
    }
}

/// Figures of one registry.
struct Figures {
    rate: f64,
    pushes: f64,
    requests: f64,
    reads: f64,
    failures: f64,
    rss: f64,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = std::env::var("BENCH_KUBECONFIG").expect("BENCH_KUBECONFIG (make bench sets it)");
    let env_file = PathBuf::from(std::env::var("BENCH_REGISTRY_ENV").expect("BENCH_REGISTRY_ENV (make bench sets it)"));
    let text = std::fs::read_to_string(&env_file).unwrap();
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let registries = [
        Registry {
            label: "open, http",
            host: vars["REGISTRY_OPEN"].into(),
            log: env_file.with_file_name("open.log"),
            tls: None,
        },
        Registry {
            label: "TLS + htpasswd",
            host: vars["REGISTRY_AUTH"].into(),
            log: env_file.with_file_name("auth.log"),
            tls: Some((vars["REGISTRY_CA"].into(), vars["REGISTRY_USER"].into(), vars["REGISTRY_PASSWORD"].into())),
        },
    ];
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../tests/fixtures/tekton-crds.yaml")).await;
    let n = n();
    println!(
        "bench oci: N={n} TaskRuns per registry, one image each; in-toto + ECDSA P-256; oci storage (.sig and .att)"
    );
    let keys = support::p256_keys("bench-oci-keys");
    let mut figures = Vec::new();
    for (i, r) in registries.iter().enumerate() {
        eprintln!("bench oci: {} ...", r.label);
        figures.push(case(&client, &kubeconfig, &keys, r, i, n).await);
    }
    println!();
    let table = Table { name_width: 48, cell_width: 16, cases: &figures };
    table.header("", registries.iter().map(|r| r.label));
    table.row("images signed + attested per second", |x| format!("{:.1}", x.rate));
    table.row("manifests pushed per image (.sig + .att)", |x| format!("{:.2}", x.pushes));
    table.row("registry requests per image", |x| format!("{:.2}", x.requests));
    table.row("ServiceAccount + Secret reads per run", |x| format!("{:.3}", x.reads));
    table.row("failed attempts", |x| format!("{:.0}", x.failures));
    table.row("peak RSS (VmHWM), MiB", |x| format!("{:.1}", x.rss));
    println!("({} signer workers; rates include process start)", workers());
}

/// N runs against one registry, in a namespace of their own.
async fn case(client: &Client, kubeconfig: &str, keys: &Path, r: &Registry, i: usize, n: usize) -> Figures {
    let digests = r.push_images(n).await;
    let ns = format!("bench-oci-{i}");
    let config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "oci", "artifacts.oci.storage": "oci" });
    namespace(client, &ns, config).await;
    // The runs' ServiceAccount holds the registry's credentials (the open
    // registry asks for none, so they are read but not sent).
    let (user, password) = r.tls.as_ref().map_or(("bench", "bench"), |(_, u, p)| (u.as_str(), p.as_str()));
    let cfg = json!({ "auths": { r.host.clone(): { "auth": STANDARD.encode(format!("{user}:{password}")) } } });
    let secret = json!({ "metadata": { "name": "push", "namespace": ns }, "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": STANDARD.encode(serde_json::to_vec(&cfg).unwrap()) } });
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &serde_json::from_value(secret).unwrap())
        .await
        .unwrap();
    let sa = json!({ "metadata": { "name": "builder", "namespace": ns }, "imagePullSecrets": [{ "name": "push" }] });
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &serde_json::from_value(sa).unwrap())
        .await
        .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar());
    stream::iter(digests.iter().enumerate())
        .map(|(i, digest)| {
            let api = api.clone();
            async move {
                let name = format!("o-{i:05}");
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name },
                    "spec": { "taskRef": { "name": "build" }, "serviceAccountName": "builder" } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
                let status = json!({ "status": {
                    "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                    "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:10Z",
                    "results": [
                        { "name": "IMAGE_URL", "value": format!("{}/bench/app-{i:05}", r.host) },
                        { "name": "IMAGE_DIGEST", "value": digest } ] } });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    let before = r.our_requests();
    let bin = env!("CARGO_BIN_EXE_tekton-chains-operator");
    let extra: Vec<String> = r.tls.iter().map(|(ca, _, _)| format!("--registry-ca-file={}", ca.display())).collect();
    let mut signer = SignerProcess::start_with(bin.as_ref(), kubeconfig, &ns, keys, 19700 + 10 * i as u16, &extra);
    let secs = signer.wait_signed(n, Instant::now()).await;
    let f = Figures {
        rate: n as f64 / secs,
        pushes: signer.metric("signer_registry_pushes_total") / n as f64,
        requests: 0.0,
        reads: signer.metric("signer_secret_reads_total") / n as f64,
        failures: signer.metric("watcher_taskrun_signing_failures_total"),
        rss: signer.peak_rss_mib(),
    };
    drop(signer);
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.delete_collection(&Default::default(), &Default::default()).await.unwrap();
    Figures { requests: (r.our_requests() - before) as f64 / n as f64, ..f }
}
