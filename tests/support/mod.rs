//! Test environment: a real API server (TEST_KUBECONFIG, or one started by
//! hack/cluster.sh), the CRDs, and the operator running in-process.
//!
//! The operator and the signers run as their own ServiceAccounts, with
//! tokens from the TokenRequest API (not as the admin, not impersonated):
//! the API server authorizes, and audits, each of their requests under the
//! ServiceAccount's own name (tests/rbac_audit.rs reads that audit log).
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use tekton_chains_operator::crd::{self, TektonChain, TektonConfig};
use tekton_chains_operator::operator::{self, Context, Options, Startup};
use tokio::sync::{Mutex, MutexGuard};

pub mod archivista;
pub mod docdb;
pub mod events;
pub mod firestore;
pub mod fulcio;
pub mod gcs;
pub mod grafeas;
pub mod hostile;
pub mod kafka;
pub mod localkms;
pub mod rbac;
pub mod registry;
pub mod rekor;
pub mod runs;
pub mod spire;
pub mod vault;

/// Tests share one API server and the singleton CRs, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// One test's view of the cluster; holds the lock until dropped.
pub struct Env {
    /// The admin: for setup (creating runs, finishing them as Tekton would, ...).
    pub client: Client,
    /// The kubeconfig the client was built from.
    pub kubeconfig: PathBuf,
    /// The operator's ServiceAccount (config/rbac), with a token of its own.
    pub operator: Client,
    _serial: MutexGuard<'static, ()>,
}

/// A ServiceAccount's identity: a client and a kubeconfig (for binaries) with its token.
pub struct Identity {
    pub client: Client,
    pub kubeconfig: PathBuf,
}

/// Namespace, ServiceAccount and bindings of the operator (config/rbac).
pub const OPERATOR_NAMESPACE: &str = "tekton-chains-operator";
pub const OPERATOR_SERVICE_ACCOUNT: &str = "tekton-chains-operator";
/// The signer's ServiceAccount name (the installed one, and the tests' own).
pub const SIGNER_SERVICE_ACCOUNT: &str = tekton_chains_operator::tekton::objects::SERVICE_ACCOUNT;
/// The tests' copy of the signer's ClusterRole (the installed one's name is
/// the operator's to manage).
const TEST_SIGNER_CLUSTER_ROLE: &str = "test-tekton-chains-signer";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the kubeconfig: TEST_KUBECONFIG, else a cluster started by hack/cluster.sh.
fn kubeconfig_path() -> PathBuf {
    if let Ok(p) = std::env::var("TEST_KUBECONFIG") {
        return PathBuf::from(p);
    }
    let dir = repo().join("target/test-cluster");
    let status = std::process::Command::new("bash")
        .arg(repo().join("hack/cluster.sh"))
        .args(["up", dir.to_str().unwrap()])
        .status()
        .expect("run hack/cluster.sh");
    assert!(status.success(), "hack/cluster.sh up failed: set TEST_KUBECONFIG or run `make test`");
    dir.join("kubeconfig")
}

impl Env {
    /// Connects, installs the CRDs and removes leftovers of earlier tests.
    pub async fn new() -> Env {
        let serial = SERIAL.lock().await;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let _ = tracing_subscriber::fmt().with_env_filter("info,kube=warn").with_test_writer().try_init();
        let path = kubeconfig_path();
        let kc = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
        let client = Client::try_from(config).unwrap();
        install_operator_rbac(&client).await;
        let operator = token_identity(&client, &path, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT).await.client;
        let env = Env { client, kubeconfig: path, operator, _serial: serial };
        env.install_crds().await;
        env.reset().await;
        env
    }

    /// A client and kubeconfig with a token of ServiceAccount `ns/sa` (which must exist).
    pub async fn token_identity(&self, ns: &str, sa: &str) -> Identity {
        token_identity(&self.client, &self.kubeconfig, ns, sa).await
    }

    /// A client with a token of ServiceAccount `ns/sa` (which must exist).
    pub async fn token_client(&self, ns: &str, sa: &str) -> Client {
        self.token_identity(ns, sa).await.client
    }

    /// A signer's own identity with system namespace `ns`, as the operator
    /// would install it: ServiceAccount `tekton-chains-controller` in `ns`,
    /// the signer's ClusterRole (a test copy, bound for this namespace) and
    /// its Role in `ns`, with the rules of src/operator/desired/rbac.rs.
    pub async fn signer_identity(&self, ns: &str) -> Identity {
        let (cluster_rules, ns_rules) = rbac::signer_rules();
        let role_name = tekton_chains_operator::tekton::objects::ROLE;
        let subjects = json!([{ "kind": "ServiceAccount", "name": SIGNER_SERVICE_ACCOUNT, "namespace": ns }]);
        let binding = |kind: &str, name: &str, ns: Option<&str>, role_kind: &str, role: &str| {
            let mut v = json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": { "name": name },
                                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role },
                                "subjects": subjects });
            if let Some(ns) = ns {
                v["metadata"]["namespace"] = json!(ns);
            }
            v
        };
        let objects = [
            json!({ "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": { "name": SIGNER_SERVICE_ACCOUNT, "namespace": ns } }),
            rbac::role("ClusterRole", TEST_SIGNER_CLUSTER_ROLE, None, cluster_rules),
            binding(
                "ClusterRoleBinding",
                &format!("{TEST_SIGNER_CLUSTER_ROLE}-{ns}"),
                None,
                "ClusterRole",
                TEST_SIGNER_CLUSTER_ROLE,
            ),
            rbac::role("Role", role_name, Some(ns), ns_rules),
            binding("RoleBinding", role_name, Some(ns), "Role", role_name),
        ];
        for obj in objects {
            apply(&self.client, &obj).await;
        }
        self.token_identity(ns, SIGNER_SERVICE_ACCOUNT).await
    }

    /// A client of [`Env::signer_identity`].
    pub async fn signer_client(&self, ns: &str) -> Client {
        self.signer_identity(ns).await.client
    }

    async fn install_crds(&self) {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let tekton = include_str!("../fixtures/tekton-crds.yaml");
        let tekton_crds = serde_yaml::Deserializer::from_str(tekton)
            .map(|d| serde::Deserialize::deserialize(d).expect("fixture CRD parses"));
        for c in crd::crds().into_iter().chain(tekton_crds) {
            let name = c.name_any();
            api.patch(&name, &PatchParams::apply("tests").force(), &Patch::Apply(&c)).await.unwrap();
            eventually(&format!("CRD {name} established"), || async {
                let c = api.get(&name).await.ok()?;
                let conds = c.status?.conditions?;
                conds.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
            })
            .await;
        }
    }

    /// Deletes every TektonConfig and TektonChain, stripping finalizers.
    async fn reset(&self) {
        let strip = json!({ "metadata": { "finalizers": null } });
        let chains: Api<TektonChain> = Api::all(self.client.clone());
        let configs: Api<TektonConfig> = Api::all(self.client.clone());
        for c in configs.list(&ListParams::default()).await.unwrap() {
            let _ = configs.delete(&c.name_any(), &DeleteParams::default()).await;
        }
        for c in chains.list(&ListParams::default()).await.unwrap() {
            let _ = chains.patch(&c.name_any(), &PatchParams::default(), &Patch::Merge(&strip)).await;
            let _ = chains.delete(&c.name_any(), &DeleteParams::default()).await;
        }
        eventually("no TektonChains left", || async {
            chains.list(&ListParams::default()).await.ok()?.items.is_empty().then_some(())
        })
        .await;
        self.remove_other_operator().await;
    }

    /// Removes what tests/startup.rs leaves of "another operator" (its CRD
    /// and Deployments), so that no other test's operator refuses to start.
    pub async fn remove_other_operator(&self) {
        use k8s_openapi::api::apps::v1::Deployment;
        use tekton_chains_operator::operator::startup::{OTHER_OPERATOR_CRD, OTHER_OPERATOR_DEPLOYMENTS};
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let _ = crds.delete(OTHER_OPERATOR_CRD, &DeleteParams::default()).await;
        for (ns, name) in OTHER_OPERATOR_DEPLOYMENTS {
            let _ = self.api::<Deployment>(ns).delete(name, &DeleteParams::default()).await;
        }
        eventually("no other operator's marks left", || async {
            let mut gone = crds.get_opt(OTHER_OPERATOR_CRD).await.ok()?.is_none();
            for (ns, name) in OTHER_OPERATOR_DEPLOYMENTS {
                gone &= self.api::<Deployment>(ns).get_opt(name).await.ok()?.is_none();
            }
            gone.then_some(())
        })
        .await;
    }

    /// Starts the operator loop in this process, as the operator's
    /// ServiceAccount; it stops when the handle drops.
    pub fn start_operator(&self) -> Operator {
        self.start_operator_with(self.operator.clone())
    }

    /// Starts the operator loop in this process with `client`.
    pub fn start_operator_with(&self, client: Client) -> Operator {
        self.start_operator_as(client, Startup::default())
    }

    /// Starts the operator loop in this process with `client` and these
    /// start-up settings (the other tests create no TektonConfig).
    pub fn start_operator_as(&self, client: Client, startup: Startup) -> Operator {
        let opts = Options {
            signer_image: "registry.local/chains:test".into(),
            default_namespace: "openshift-pipelines".into(),
            startup,
        };
        let ctx = Arc::new(Context::new(client.clone(), &opts));
        let task = tokio::spawn(operator::run_with(client, ctx.clone()));
        Operator { ctx, task }
    }

    pub fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    pub fn cluster_api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }
}

/// The in-process operator, with its context for counting writes and reconciles.
pub struct Operator {
    pub ctx: Arc<Context>,
    task: tokio::task::JoinHandle<operator::Result<()>>,
}

impl Operator {
    /// Waits for the loop to end (it ends early only when start-up refuses).
    pub async fn ended(&mut self) -> operator::Result<()> {
        (&mut self.task).await.expect("the operator task does not panic")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Server-side applies an object (any kind; field manager `tests`) with `client`.
pub async fn apply(client: &Client, obj: &serde_json::Value) {
    let obj: kube::api::DynamicObject = serde_json::from_value(obj.clone()).unwrap();
    let types = obj.types.clone().expect("apiVersion and kind");
    let gvk = kube::core::GroupVersionKind::try_from(&types).unwrap();
    let plural = format!("{}s", gvk.kind.to_lowercase());
    let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural);
    let api: Api<kube::api::DynamicObject> = match obj.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.patch(&obj.name_any(), &PatchParams::apply("tests").force(), &Patch::Apply(&obj))
        .await
        .unwrap_or_else(|e| panic!("applying {} {}: {e}", gvk.kind, obj.name_any()));
}

/// The operator's namespace, ServiceAccount, ClusterRole and binding, from
/// the repository's manifests (config/manager/namespace, config/rbac).
async fn install_operator_rbac(client: &Client) {
    for text in [
        include_str!("../../config/manager/namespace/namespace.yaml"),
        include_str!("../../config/rbac/service_account.yaml"),
        include_str!("../../config/rbac/cluster_role.yaml"),
        include_str!("../../config/rbac/cluster_role_binding.yaml"),
    ] {
        apply(client, &serde_yaml::from_str(text).unwrap()).await;
    }
}

/// A token of ServiceAccount `ns/sa` from the TokenRequest API, as a client
/// and as a kubeconfig file (the admin's cluster, the ServiceAccount as user).
async fn token_identity(admin: &Client, kubeconfig: &std::path::Path, ns: &str, sa: &str) -> Identity {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    let request = TokenRequest {
        spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() }),
        ..Default::default()
    };
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let token = api
        .create_token_request(sa, &Default::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for ServiceAccount {ns}/{sa}: {e}"))
        .status
        .and_then(|s| s.token)
        .unwrap_or_else(|| panic!("TokenRequest for ServiceAccount {ns}/{sa}: no token in the status"));
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).expect("the kubeconfig parses");
    let context = kc["current-context"].as_str().unwrap_or_default().to_string();
    let user = kc["contexts"]
        .as_sequence()
        .and_then(|cs| cs.iter().find(|c| c["name"].as_str() == Some(context.as_str())))
        .and_then(|c| c["context"]["user"].as_str())
        .unwrap_or_default()
        .to_string();
    kc["users"] = serde_yaml::from_str(&format!("[{{ name: {user:?}, user: {{ token: {token:?} }} }}]")).unwrap();
    let path = std::env::temp_dir().join(format!("kubeconfig-{}-{sa}-{}", ns, unique_ns("t")));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    let parsed = Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default()).await.unwrap();
    Identity { client: Client::try_from(config).unwrap(), kubeconfig: path }
}

/// A namespace name unique to this test run.
pub fn unique_ns(prefix: &str) -> String {
    let n: u32 = rand_suffix();
    format!("{prefix}-{n:06x}")
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (t.subsec_nanos() ^ (t.as_secs() as u32).rotate_left(7)) & 0xff_ffff
}

/// Polls `check` until it returns Some, or fails the test after 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The real cosign binary, when the environment names it (COSIGN_BIN; `make test` does).
/// The real cosign: COSIGN_BIN, else the one hack/tools.sh builds (cached).
pub fn cosign() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("COSIGN_BIN") {
        return Some(PathBuf::from(bin));
    }
    let out = std::process::Command::new("bash").arg(repo().join("hack/tools.sh")).arg("cosign").output().ok()?;
    assert!(out.status.success(), "hack/tools.sh cosign failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// cosign v3 (for the sigstore bundle format): COSIGN3_BIN, else built by
/// `hack/tools.sh cosign3`.
pub fn cosign3() -> PathBuf {
    if let Some(bin) = std::env::var_os("COSIGN3_BIN") {
        return PathBuf::from(bin);
    }
    let out = std::process::Command::new("bash").arg(repo().join("hack/tools.sh")).arg("cosign3").output().unwrap();
    assert!(out.status.success(), "hack/tools.sh cosign3 failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs seed commands: `bash -c SCRIPT` in `dir` with `tools`' folders first
/// on PATH and a copy of the test kubeconfig whose current namespace is `ns`
/// (as `oc project ns` would leave it). Returns success and stdout+stderr.
pub fn seed_shell(env: &Env, ns: &str, dir: &Path, tools: &[&Path]) -> impl Fn(&str) -> (bool, String) + use<> {
    std::fs::create_dir_all(dir).unwrap();
    let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let mut kc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for c in kc["contexts"].as_sequence_mut().expect("kubeconfig contexts") {
        c["context"]["namespace"] = serde_yaml::Value::from(ns);
    }
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, serde_yaml::to_string(&kc).unwrap()).unwrap();
    let mut path: Vec<PathBuf> = tools.iter().map(|t| t.parent().unwrap().to_path_buf()).collect();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let path = std::env::join_paths(path).unwrap();
    let dir = dir.to_path_buf();
    move |script: &str| {
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("run bash");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

/// A tool from hack/tools.sh (`kubectl`, `helm`, ...), found or built once and cached.
pub fn tool(name: &str) -> PathBuf {
    let out = std::process::Command::new("bash").arg(repo().join("hack/tools.sh")).arg(name).output().unwrap();
    assert!(out.status.success(), "hack/tools.sh {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs a tool with the test cluster's kubeconfig, in the repository: (success, output).
pub fn run_tool(env: &Env, name: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(tool(name))
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Signs a blob with the real cosign using this key, and verifies it with the public key.
pub fn cosign_sign_and_verify(cosign: &std::path::Path, key: &[u8], password: &[u8], public: &[u8]) {
    let dir = std::env::temp_dir().join(format!("cosign-{}", unique_ns("k")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cosign.key"), key).unwrap();
    std::fs::write(dir.join("cosign.pub"), public).unwrap();
    std::fs::write(dir.join("payload"), b"hello chains").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(cosign)
            .args(args)
            .current_dir(&dir)
            .env("COSIGN_PASSWORD", String::from_utf8_lossy(password).as_ref())
            .output()
            .expect("run cosign");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "cosign {args:?} failed: {text}");
        text
    };
    run(&["sign-blob", "--yes", "--tlog-upload=false", "--key", "cosign.key", "--output-signature", "sig", "payload"]);
    let out =
        run(&["verify-blob", "--insecure-ignore-tlog=true", "--key", "cosign.pub", "--signature", "sig", "payload"]);
    assert!(out.contains("Verified OK"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Signer settings for tests: fast retries and key refresh, a short Lease.
pub fn signer_options(
    system_ns: &str,
    keys: &std::path::Path,
    namespaces: Vec<String>,
) -> tekton_chains_operator::signer::Options {
    tekton_chains_operator::signer::Options {
        namespaces,
        signing_secrets_dir: keys.to_path_buf(),
        system_namespace: system_ns.into(),
        threads_per_controller: 4,
        kube_api_qps: 50.0,
        kube_api_burst: 50,
        probes_addr: "127.0.0.1:0".into(),
        metrics_addr: "127.0.0.1:0".into(),
        retry_backoff: Duration::from_millis(100),
        key_refresh: Duration::from_millis(200),
        leader_election: true,
        lease_duration: Duration::from_secs(3),
        buckets: 1,
        replicas: 1,
        leader_election_config: "tekton-chains-config-leader-election".into(),
        job_deadline: Duration::from_secs(120),
        http_timeout: Duration::from_secs(30),
        queue_order: Default::default(),
        queue_cache_mib: 16,
        registry_ca_file: Vec::new(),
        service_account: SIGNER_SERVICE_ACCOUNT.into(),
    }
}

/// A running in-process signer; stops (all its tasks) when dropped.
pub struct RunningSigner {
    pub signer: Arc<tekton_chains_operator::signer::Signer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningSigner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the signing loop in this process with `client` (a signer's identity:
/// [`Env::signer_client`], or a restricted one under another name).
pub async fn start_signer(client: Client, opts: tekton_chains_operator::signer::Options) -> RunningSigner {
    let signer = tekton_chains_operator::signer::Signer::new(client.clone(), &opts).await;
    let s = signer.clone();
    let task = tokio::spawn(async move {
        let _ = s.run(client, &opts).await;
    });
    RunningSigner { signer, task }
}

/// `hack/<script>.sh <action> <dir>` with `env` set; panics unless it succeeds.
pub fn hack(script: &str, action: &str, dir: &Path, env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("hack").join(format!("{script}.sh")))
        .args([action, dir.to_str().unwrap()])
        .envs(env.iter().copied())
        .status()
        .unwrap_or_else(|e| panic!("run hack/{script}.sh: {e}"));
    assert!(status.success(), "hack/{script}.sh {action} failed");
}

/// A test component's env file: `$var` (a file its hack/ script wrote), else
/// `hack/<script>.sh up target/<dir>` is run and its `env` is read. Returns
/// the file's folder and its `KEY=VALUE` lines.
pub fn component_env(var: &str, script: &str, dir: &str) -> (PathBuf, std::collections::HashMap<String, String>) {
    let path = match std::env::var(var) {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join(dir);
            hack(script, "up", &dir, &[]);
            dir.join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let vars = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    (path.parent().unwrap().to_path_buf(), vars)
}

/// A signer *process* (the binary, `signer` command) for namespace `ns` as
/// `identity`, with no local keys, leader election off and `env` set (each
/// `None` removed): for what a process reads from its environment
/// (credentials, sockets). Its output goes to the returned log file; it is
/// killed when the [`SignerProcess`] is dropped.
pub fn signer_process(ns: &str, identity: &Identity, env: &[(&str, Option<&str>)]) -> SignerProcess {
    signer_process_with(ns, identity, env, &tmpdir("no-keys"), &[])
}

/// [`signer_process`] with the key folder `keys` and more `args`.
pub fn signer_process_with(
    ns: &str,
    identity: &Identity,
    env: &[(&str, Option<&str>)],
    keys: &Path,
    args: &[&str],
) -> SignerProcess {
    let base = ["--leader-election=false", "--metrics-addr", "127.0.0.1:0", "--probes-addr", "127.0.0.1:0"];
    spawn_signer(ns, identity, env, keys, &[&base[..], args].concat())
}

/// A signer replica: the binary with leader election on, metrics and probes
/// on `port`, `args` (buckets, replicas, lease duration) and `env` set.
/// Its Lease identity starts with `name` (its POD_NAME).
pub fn signer_replica(
    ns: &str,
    identity: &Identity,
    keys: &Path,
    name: &str,
    port: u16,
    args: &[&str],
    env: &[(&str, Option<&str>)],
) -> SignerProcess {
    let addr = format!("127.0.0.1:{port}");
    let base = ["--metrics-addr", addr.as_str(), "--probes-addr", addr.as_str()];
    let env = [&[("POD_NAME", Some(name))][..], env].concat();
    spawn_signer(ns, identity, &env, keys, &[&base[..], args].concat())
}

/// The body of a plain HTTP GET of a loopback port (metrics, probes); empty when nothing answers.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn spawn_signer(
    ns: &str,
    identity: &Identity,
    env: &[(&str, Option<&str>)],
    keys: &Path,
    args: &[&str],
) -> SignerProcess {
    let keys = keys.to_string_lossy();
    let base = ["signer", "--namespace", ns, "--system-namespace", ns, "--signing-secrets-dir", &keys];
    spawn_binary(identity, env, &[&base[..], args].concat())
}

/// The binary with exactly `args` (a Deployment's, say), as `identity`.
pub fn spawn_binary(identity: &Identity, env: &[(&str, Option<&str>)], args: &[&str]) -> SignerProcess {
    let log = tmpdir("signer-log").join("signer.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator"));
    cmd.args(args)
        .env("KUBECONFIG", &identity.kubeconfig)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    SignerProcess { child: cmd.spawn().unwrap(), log }
}

/// A running signer process; killed when dropped.
pub struct SignerProcess {
    child: std::process::Child,
    pub log: PathBuf,
}

impl SignerProcess {
    /// What it has logged so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status once it has exited.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL: no goodbye, its Leases left to expire.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit (a pod being stopped).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a namespace with a unique name.
pub async fn create_namespace(env: &Env, prefix: &str) -> String {
    let ns = unique_ns(prefix);
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    nss.create(&Default::default(), &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap())
        .await
        .unwrap();
    ns
}

/// TaskRuns (`kind` "TaskRun") or PipelineRuns of a namespace, as the admin.
pub fn runs_api(env: &Env, ns: &str, kind: &str) -> Api<kube::api::DynamicObject> {
    use tekton_chains_operator::tekton::RunKind;
    let kind = if kind == "PipelineRun" { RunKind::PipelineRun } else { RunKind::TaskRun };
    Api::namespaced_with(env.client.clone(), ns, &kind.api_resource())
}

/// A fresh temporary folder.
pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique_ns(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A key pair made by the real `cosign generate-key-pair` (password `s3cret-pw`), in a
/// signing-secrets folder (cosign.key, cosign.password; cosign.pub beside them).
pub fn cosign_keys(cosign: &std::path::Path) -> PathBuf {
    let dir = tmpdir("cosign");
    let out = std::process::Command::new(cosign)
        .arg("generate-key-pair")
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "s3cret-pw")
        .output()
        .expect("run cosign generate-key-pair");
    assert!(out.status.success(), "cosign generate-key-pair: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("cosign.password"), "s3cret-pw").unwrap();
    dir
}

/// A namespace for the signer (holding chains-config with `data`) and runs.
pub async fn namespace_with_config(env: &Env, prefix: &str, data: &[(&str, &str)]) -> String {
    let ns = create_namespace(env, prefix).await;
    let data: std::collections::BTreeMap<&str, &str> = data.iter().copied().collect();
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "chains-config", "namespace": ns }, "data": data }))
            .unwrap();
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(env.client.clone(), &ns)
        .create(&Default::default(), &cm)
        .await
        .unwrap();
    ns
}

/// A loopback TCP port nothing listens on (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TokenRequest token of `ns/sa` for `audience`.
pub async fn sa_token(env: &Env, ns: &str, sa: &str, audience: &str) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    let spec = TokenRequestSpec {
        audiences: Some(vec![audience.into()]),
        expiration_seconds: Some(3600),
        ..Default::default()
    };
    let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> = kube::Api::namespaced(env.client.clone(), ns);
    let req = TokenRequest { spec: Some(spec), ..Default::default() };
    api.create_token_request(sa, &Default::default(), &req).await.unwrap().status.unwrap().token.unwrap()
}
