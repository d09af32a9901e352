//! `oci` storage through a real token-auth (Bearer) registry: Gitea's
//! container registry (hack/gitea.sh), as Quay, GHCR, Harbor and Docker Hub
//! authenticate. Verified with the real cosign.

mod support;

use std::path::Path;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::registry::{Registries, docker_secret};
use support::runs::{build_taskrun, cosign, signed};
use support::{Env, component_env, cosign_keys, hack, namespace_with_config, signer_options, start_signer, unique_ns};

const OCI_CONFIG: &[(&str, &str)] =
    &[("artifacts.taskrun.format", "in-toto"), ("artifacts.taskrun.storage", "oci"), ("artifacts.oci.storage", "oci")];

fn verify(keys: &Path, image: &str, env: &[(&str, &str)]) {
    let (ok, out) = cosign(keys, &["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", image], env);
    assert!(ok && out.contains("The signatures were verified against the specified public key"), "{out}");
    let args =
        ["verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--type", "slsaprovenance", image];
    let (ok, out) = cosign(keys, &args, env);
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_auth_registry_signs_skips_a_pull_only_token_and_survives_tokens_refused_mid_burst() {
    let env = Env::new().await;
    let (dir, vars) = component_env("TEST_GITEA_ENV", "gitea", "test-gitea");
    let regs = Registries::gitea(&vars);
    let read_token = vars["GITEA_READ_TOKEN"].clone();
    // The registry asks for a Bearer token, not Basic credentials.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&regs.ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let res = http.get(format!("https://{}/v2/", regs.auth)).send().await.unwrap();
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(res.status() == 401 && challenge.starts_with("Bearer realm="), "{challenge}");

    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "tokenauth", OCI_CONFIG).await;
    // The run's ServiceAccount names a pull-only credential first (an access
    // token scoped read:package, whose registry tokens pull but never push),
    // then the owner's.
    docker_secret(&env, &ns, "pull-only", regs.dockerconfigjson(&regs.user, &read_token)).await;
    docker_secret(&env, &ns, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": { "name": "builder", "namespace": ns },
        "secrets": [{ "name": "pull-only" }], "imagePullSecrets": [{ "name": "push" }],
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(env.client.clone(), &ns).create(&PostParams::default(), &sa).await.unwrap();
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.registry_ca_file = vec![regs.ca.clone()];
    let _s = start_signer(env.signer_client(&ns).await, opts).await;

    let docker = regs.docker_config();
    let cosign_env = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];
    let pull_only = Registries { password: read_token.clone(), ..regs.clone() };
    let mut images = Vec::new();
    for i in 0..8 {
        let repo = format!("chains/{}", unique_ns(&format!("img{i}")));
        let digest = regs.push_image(&regs.auth, &repo).await;
        images.push((format!("{}/{repo}", regs.auth), digest, format!("build-{i}")));
    }
    // The pull-only credential really cannot push (so a signed run proves the next one was tried).
    let refused = tokio::spawn({
        let (pull_only, repo) = (pull_only.clone(), format!("chains/{}", unique_ns("denied")));
        async move { pull_only.push_image(&pull_only.auth.clone(), &repo).await }
    });
    assert!(refused.await.is_err(), "a read:package token pushed");

    // The first half, with the tokens the registry gave.
    for (image, digest, name) in &images[..4] {
        build_taskrun(&env, &ns, name, "builder", image, digest).await;
        assert_eq!(signed(&env, &ns, "TaskRun", name).await, "true");
    }
    // Mid-burst, every token given so far stops working (as when they
    // expire: Gitea's live 24 h, fixed in its source, so its signing secret
    // is rotated instead); the signer's cached ones are refused with a 401.
    hack("gitea", "rotate", &dir, &[]);
    for (image, digest, name) in &images[4..] {
        build_taskrun(&env, &ns, name, "builder", image, digest).await;
    }
    for (image, digest, name) in &images {
        assert_eq!(signed(&env, &ns, "TaskRun", name).await, "true", "{name}");
        verify(&keys, &format!("{image}@{digest}"), &cosign_env);
    }
}
