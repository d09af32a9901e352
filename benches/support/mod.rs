//! Helpers shared by the benchmarks: API clients, namespaces with a
//! chains-config, and the signer as a real process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{StreamExt as _, stream};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::json;

/// Signer workers and load-generator concurrency (BENCH_WORKERS, default 4).
pub fn workers() -> usize {
    std::env::var("BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(4)
}

/// TaskRuns.
pub fn ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("tekton.dev", "v1", "TaskRun"), "taskruns")
}

/// A client from a kubeconfig file.
pub async fn client(path: &str) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    Client::try_from(Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap()).unwrap()
}

/// A bench's start: one rustls provider, the cluster `make bench` started
/// (BENCH_KUBECONFIG) and Tekton's CRDs on it. Returns the kubeconfig path and a client.
pub async fn bench_cluster() -> (String, Client) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = std::env::var("BENCH_KUBECONFIG").expect("BENCH_KUBECONFIG (make bench sets it)");
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../../tests/fixtures/tekton-crds.yaml")).await;
    (kubeconfig, client)
}

/// Applies CRDs from a multi-document YAML.
pub async fn apply_yaml(client: &Client, yaml: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let crd: CustomResourceDefinition = serde::Deserialize::deserialize(doc).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&crd)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// A namespace with a chains-config.
pub async fn namespace(client: &Client, ns: &str, config: serde_json::Value) {
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = nss
        .create(&PostParams::default(), &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap())
        .await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = json!({ "metadata": { "name": "chains-config", "namespace": ns }, "data": config });
    let _ = cms.create(&PostParams::default(), &serde_json::from_value(cm).unwrap()).await;
}

/// The `KEY=VALUE` lines of the env file (as a hack/ script writes it)
/// that `var` names; hack/bench.sh sets it.
pub fn env_file(var: &str) -> std::collections::HashMap<String, String> {
    let path = std::env::var(var).unwrap_or_else(|_| panic!("{var} (make bench sets it)"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// `count` finished TaskRuns `<prefix>-00000`… in `ns`, each with its own
/// result (so its own payload), `workers()` at a time.
pub async fn finished_runs(client: &Client, ns: &str, prefix: &str, count: usize) {
    finished_runs_with(client, ns, prefix, count, None).await
}

/// [`finished_runs`], each also naming an image it built in `image` (its
/// own digest): one provenance subject per run.
pub async fn finished_runs_with(client: &Client, ns: &str, prefix: &str, count: usize, image: Option<&str>) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar());
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("{prefix}-{i:05}");
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name }, "spec": {} });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
                let mut results = vec![json!({ "name": "n", "value": i.to_string() })];
                if let Some(repo) = image {
                    results.push(json!({ "name": "IMAGE_URL", "value": repo }));
                    results.push(json!({ "name": "IMAGE_DIGEST", "value": format!("sha256:{i:064x}") }));
                }
                let st = json!({ "status": { "conditions": [{ "type": "Succeeded", "status": "True" }],
                    "completionTime": "2026-11-23T10:00:00Z", "results": results } });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
            }
        })
        .buffer_unordered(workers())
        .collect::<Vec<_>>()
        .await;
}

/// `tekton-chains-operator signer` as a child process, killed on drop.
pub struct SignerProcess {
    child: Child,
    metrics: String,
}

impl SignerProcess {
    pub fn start(bin: &Path, kubeconfig: &str, ns: &str, keys: &Path, port: u16) -> Self {
        Self::start_with(bin, kubeconfig, ns, keys, port, &[])
    }

    /// [`SignerProcess::start`] with extra flags.
    pub fn start_with(bin: &Path, kubeconfig: &str, ns: &str, keys: &Path, port: u16, extra: &[String]) -> Self {
        let mut args: Vec<String> =
            ["signer", "--namespace", ns, "--system-namespace", ns, "--leader-election=false"].map(String::from).into();
        args.extend(extra.iter().cloned());
        args.push(format!("--threads-per-controller={}", workers()));
        args.push(format!("--signing-secrets-dir={}", keys.display()));
        Self::spawn(bin, kubeconfig, &args, port, None)
    }

    /// `bin <args> --metrics-addr=127.0.0.1:<port> --probes-addr=127.0.0.1:<port+1>`
    /// as a child process. With `log`, its output (logs go to stdout) goes to
    /// that file (created or appended to) with `RUST_LOG=info`; without,
    /// stdout is dropped, stderr inherited and `RUST_LOG=warn`.
    pub fn spawn(bin: &Path, kubeconfig: &str, args: &[String], port: u16, log: Option<&Path>) -> Self {
        Self::spawn_env(bin, kubeconfig, args, port, log, &[])
    }

    /// [`SignerProcess::spawn`] with more environment variables.
    pub fn spawn_env(
        bin: &Path,
        kubeconfig: &str,
        args: &[String],
        port: u16,
        log: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(bin);
        cmd.envs(env.iter().copied());
        cmd.args(args)
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .arg(format!("--probes-addr=127.0.0.1:{}", port + 1))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("signer log file");
            cmd.stdout(file.try_clone().expect("signer log file")).stderr(file);
        }
        let child = cmd.spawn().expect("start signer");
        Self { child, metrics: format!("127.0.0.1:{port}") }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, once the process has exited (it is then reaped).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Panics when the process has exited (a bench must not wait on a dead signer).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the signer exited: {status}");
        }
    }

    /// Waits until the signer has marked `n` TaskRuns signed (at most 15
    /// minutes); returns the seconds since `start`.
    pub async fn wait_signed(&mut self, n: usize, start: std::time::Instant) -> f64 {
        loop {
            let signed = self.metric("watcher_taskrun_marked_signed_total") as usize;
            if signed >= n {
                return start.elapsed().as_secs_f64();
            }
            assert!(start.elapsed() < Duration::from_secs(900), "runs not signed within 15 minutes ({signed}/{n})");
            self.assert_running();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }

    /// CPU seconds the process has used (user + system).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    pub fn metric(&self, name: &str) -> f64 {
        let body = self.metrics_text();
        body.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    }

    /// The whole `/metrics` text (empty when the process does not answer within a second).
    pub fn metrics_text(&self) -> String {
        use std::io::{Read, Write};
        let Ok(addr) = self.metrics.parse::<std::net::SocketAddr>() else { return String::new() };
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    }
}

/// The sum of every sample of metric `name` (all label sets) in a `/metrics` text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = if rest.starts_with('{') { rest.split_once("} ")?.1 } else { rest.strip_prefix(' ')? };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// Pushes `n` one-layer images to `<host>/<prefix>-<i:05>:v1` (each its
/// own layer, so its own digest), 8 at a time; returns their digests.
pub async fn push_images(
    config: oci_client::client::ClientConfig,
    auth: &oci_client::secrets::RegistryAuth,
    host: &str,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    use futures::{StreamExt, stream};
    use oci_client::client::{Config as ImageConfig, ImageLayer};
    let oci = oci_client::Client::new(config);
    stream::iter(0..n)
        .map(|i| {
            let oci = oci.clone();
            async move {
                let r = oci_client::Reference::with_tag(host.to_string(), format!("{prefix}-{i:05}"), "v1".into());
                let layer = ImageLayer::oci_v1(format!("layer {i} {:?}", std::time::Instant::now()).into_bytes(), None);
                let config = ImageConfig::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
                oci.push(&r, &[layer], config, auth, None).await.unwrap();
                oci.fetch_manifest_digest(&r, auth).await.unwrap()
            }
        })
        .buffered(8)
        .collect()
        .await
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signing-secrets folder holding a fresh ECDSA P-256 `x509.pem` (made by openssl).
pub fn p256_keys(tag: &str) -> PathBuf {
    let keys = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&keys).unwrap();
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(keys.join("x509.pem"))
        .status()
        .unwrap();
    assert!(st.success(), "openssl genpkey");
    keys
}

/// A figures table: a name column `name_width` wide, then one right-aligned
/// column `cell_width` wide per case.
pub struct Table<'a, T> {
    pub name_width: usize,
    pub cell_width: usize,
    pub cases: &'a [T],
}

impl<T> Table<'_, T> {
    /// The header line: `title`, then each case's label.
    pub fn header<'l>(&self, title: &str, labels: impl Iterator<Item = &'l str>) {
        let cells: String = labels.map(|l| format!("{l:>w$}", w = self.cell_width)).collect();
        println!("{title:<w$}{cells}", w = self.name_width);
    }

    /// One row: `name`, then `f` of each case.
    pub fn row(&self, name: &str, f: impl Fn(&T) -> String) {
        let cells: String = self.cases.iter().map(|x| format!("{:>w$}", f(x), w = self.cell_width)).collect();
        println!("{name:<w$}{cells}", w = self.name_width);
    }
}
