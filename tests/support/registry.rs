//! The test registries (hack/registry.sh): an open one on plain http, and
//! one behind TLS (self-signed CA) and htpasswd; and a small image pusher.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Where the registries listen, and the auth registry's CA and credentials.
#[derive(Debug, Clone)]
pub struct Registries {
    pub open: String,
    pub auth: String,
    pub ca: PathBuf,
    pub user: String,
    pub password: String,
}

/// The running registries: TEST_REGISTRY_ENV (a file written by
/// `hack/registry.sh up`), else ones started by that script under target/.
pub fn registries() -> Registries {
    let path = match std::env::var("TEST_REGISTRY_ENV") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-registry");
            let status = std::process::Command::new("bash")
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hack/registry.sh"))
                .args(["up", dir.to_str().unwrap()])
                .status()
                .expect("run hack/registry.sh");
            assert!(status.success(), "hack/registry.sh up failed");
            dir.join("env")
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    Registries {
        open: v["REGISTRY_OPEN"].into(),
        auth: v["REGISTRY_AUTH"].into(),
        ca: v["REGISTRY_CA"].into(),
        user: v["REGISTRY_USER"].into(),
        password: v["REGISTRY_PASSWORD"].into(),
    }
}

impl Registries {
    /// Pushes a one-layer image with unique content to `registry/repo:tag`
    /// with the OCI client; returns its manifest digest.
    pub async fn push_image(&self, registry: &str, repo: &str) -> String {
        let tls = registry == self.auth;
        let config = ClientConfig {
            protocol: if tls { ClientProtocol::Https } else { ClientProtocol::Http },
            extra_root_certificates: if tls {
                vec![Certificate { encoding: CertificateEncoding::Pem, data: std::fs::read(&self.ca).unwrap() }]
            } else {
                vec![]
            },
            use_monolithic_push: true,
            ..Default::default()
        };
        let client = Client::new(config);
        let auth =
            if tls { RegistryAuth::Basic(self.user.clone(), self.password.clone()) } else { RegistryAuth::Anonymous };
        let reference = Reference::with_tag(registry.into(), repo.into(), "v1".into());
        let unique = format!("layer of {repo} at {:?}", std::time::SystemTime::now());
        let layer = ImageLayer::oci_v1(unique.into_bytes(), None);
        let cfg = Config::oci_v1(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
            None,
        );
        client
            .push(&reference, &[layer], cfg, &auth, None)
            .await
            .unwrap_or_else(|e| panic!("pushing {registry}/{repo}: {e}"));
        client.fetch_manifest_digest(&reference, &auth).await.unwrap()
    }

    /// Gitea's token-auth registry (from `hack/gitea.sh`'s env file) as the
    /// `auth` registry, with its owner's credentials (no open registry).
    pub fn gitea(vars: &std::collections::HashMap<String, String>) -> Self {
        Self {
            open: String::new(),
            auth: vars["GITEA_REGISTRY"].clone(),
            ca: vars["GITEA_CA"].clone().into(),
            user: vars["GITEA_USER"].clone(),
            password: vars["GITEA_PASSWORD"].clone(),
        }
    }

    /// The manifest at `registry/repo:tag` as JSON, or `None` when absent.
    pub async fn manifest(&self, registry: &str, repo: &str, tag: &str) -> Option<serde_json::Value> {
        let tls = registry == self.auth;
        let mut b = reqwest::Client::builder();
        if tls {
            b = b.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&std::fs::read(&self.ca).unwrap()).unwrap());
        }
        let scheme = if tls { "https" } else { "http" };
        let mut req = b.build().unwrap().get(format!("{scheme}://{registry}/v2/{repo}/manifests/{tag}")).header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.index.v1+json",
        );
        if tls {
            req = req.basic_auth(&self.user, Some(&self.password));
        }
        let res = req.send().await.unwrap();
        if res.status() == 404 {
            return None;
        }
        assert!(res.status().is_success(), "GET manifest {repo}:{tag}: {}", res.status());
        Some(res.json().await.unwrap())
    }

    /// The tags of `registry/repo` (the open registry).
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let url = format!("http://{}/v2/{repo}/tags/list", self.open);
        let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect()
    }

    /// A docker config folder (for cosign's DOCKER_CONFIG) with the auth registry's credentials.
    pub fn docker_config(&self) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("docker-config-{}", super::unique_ns("d")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), self.dockerconfigjson(&self.user, &self.password)).unwrap();
        dir
    }

    /// `.dockerconfigjson` content for the auth registry.
    pub fn dockerconfigjson(&self, user: &str, password: &str) -> Vec<u8> {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        serde_json::to_vec(&serde_json::json!({ "auths": { self.auth.clone(): { "auth": auth } } })).unwrap()
    }
}

/// A `kubernetes.io/dockerconfigjson` Secret `name` in `ns` with `content`.
pub async fn docker_secret(env: &super::Env, ns: &str, name: &str, content: Vec<u8>) {
    use kube::api::{Api, PostParams};
    let s: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name, "namespace": ns }, "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, content) },
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}
