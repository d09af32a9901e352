//! `storage.oci.encoding-format: sigstore-bundle` against real registries
//! (distribution 2.8, open and behind TLS + htpasswd: no Referrers API, so
//! the referrers-tag fallback) and a real Rekor, verified with the real
//! cosign v3 (`--new-bundle-format`).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::registry::{Registries, docker_secret, registries};
use support::rekor::rekor;
use support::runs::{build_taskrun, build_taskrun_at, run, signed};
use support::{Env, cosign_keys, namespace_with_config, signer_options, start_signer, tmpdir, unique_ns};

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

const BUNDLE_CONFIG: &[(&str, &str)] = &[
    ("artifacts.taskrun.format", "in-toto"),
    ("artifacts.taskrun.storage", "oci,tekton"),
    ("artifacts.oci.storage", "oci"),
    ("storage.oci.encoding-format", "sigstore-bundle"),
];

/// `cosign` v3 `<args>` in `keys`, with extra env.
fn cosign3(keys: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(support::cosign3());
    cmd.args(args).current_dir(keys).env("COSIGN_PASSWORD", "s3cret-pw");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Both verifications cosign v3 has for bundles: the image signature and
/// the provenance. `extra` adds `--trusted-root` or `--insecure-ignore-tlog`.
fn verify_bundles(keys: &Path, image: &str, extra: &[&str], env: &[(&str, &str)]) {
    let mut args = vec!["verify", "--new-bundle-format", "--key", "cosign.pub"];
    args.extend(extra);
    args.push(image);
    let (ok, out) = cosign3(keys, &args, env);
    assert!(ok && out.contains("The signatures were verified against the specified public key"), "{out}");
    let verified = verified_predicates(&out);
    assert!(verified.iter().any(|p| p == "https://sigstore.dev/cosign/sign/v1"), "the image's own signature: {out}");
    let mut args = vec!["verify-attestation", "--new-bundle-format", "--key", "cosign.pub", "--type", "slsaprovenance"];
    args.extend(extra);
    args.push(image);
    let (ok, out) = cosign3(keys, &args, env);
    assert!(ok && verified_predicates(&out).iter().any(|p| p == "https://slsa.dev/provenance/v0.2"), "{out}");
}

/// The predicate types cosign printed as verified: `verify` prints a JSON
/// list whose `critical.type` is each statement's predicate type,
/// `verify-attestation` one DSSE envelope per line.
fn verified_predicates(out: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut types = Vec::new();
    for line in out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        for item in line.as_array().cloned().unwrap_or_else(|| vec![line.clone()]) {
            if let Some(t) = item["critical"]["type"].as_str() {
                types.push(t.to_string());
            }
            let payload =
                item["payload"].as_str().and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok());
            let statement = payload.and_then(|p| serde_json::from_slice::<Value>(&p).ok());
            if let Some(t) = statement.as_ref().and_then(|s| s["predicateType"].as_str()) {
                types.push(t.to_string());
            }
        }
    }
    types
}

/// The referrers-tag index of `digest`, after checking that no cosign
/// `.sig` / `.att` tag was written: its bundle manifests (each checked to
/// name the image as subject and hold one bundle layer).
async fn referrers(regs: &Registries, registry: &str, repo: &str, digest: &str) -> Vec<Value> {
    let tag = digest.replace(':', "-");
    for legacy in ["sig", "att"] {
        assert!(regs.manifest(registry, repo, &format!("{tag}.{legacy}")).await.is_none(), "a .{legacy} tag");
    }
    let index = regs.manifest(registry, repo, &tag).await.expect("the referrers tag");
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let listed = index["manifests"].as_array().unwrap().clone();
    for m in &listed {
        assert_eq!(m["artifactType"], BUNDLE, "{index}");
        let referrer = regs.manifest(registry, repo, m["digest"].as_str().unwrap()).await.unwrap();
        assert_eq!(referrer["subject"]["digest"], digest, "{referrer}");
        assert_eq!(referrer["layers"][0]["mediaType"], BUNDLE);
    }
    listed
}

/// A ServiceAccount `builder` with the push credentials of `regs.auth`, a
/// fresh image `<prefix>-…` there, a signer trusting the registry's CA, and a
/// TaskRun that built the image, signed: (image, repo, digest, signer).
async fn signed_with_credentials(
    env: &Env,
    regs: &Registries,
    ns: &str,
    keys: &Path,
    prefix: &str,
) -> (String, String, String, support::RunningSigner) {
    docker_secret(env, ns, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    let sa = serde_json::json!({ "metadata": { "name": "builder", "namespace": ns }, "secrets": [{ "name": "push" }] });
    let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> = kube::Api::namespaced(env.client.clone(), ns);
    sas.create(&Default::default(), &serde_json::from_value(sa).unwrap()).await.unwrap();
    let (space, name) = prefix.split_once('/').unwrap();
    let repo = format!("{space}/{}", unique_ns(name));
    let digest = regs.push_image(&regs.auth, &repo).await;
    let image = format!("{}/{repo}", regs.auth);
    let mut opts = signer_options(ns, keys, vec![ns.to_string()]);
    opts.registry_ca_file = vec![regs.ca.clone()];
    let s = start_signer(env.signer_client(ns).await, opts).await;
    build_taskrun(env, ns, "build", "builder", &image, &digest).await;
    assert_eq!(signed(env, ns, "TaskRun", "build").await, "true");
    (image, repo, digest, s)
}

fn predicate_types(listed: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = listed
        .iter()
        .map(|m| m["annotations"]["dev.sigstore.bundle.predicateType"].as_str().unwrap_or_default().to_string())
        .collect();
    types.sort();
    types
}

/// Transparency off, open registry: the image signature and provenance are
/// two bundle referrers (no `.sig`/`.att`), cosign v3 verifies both with
/// `--insecure-ignore-tlog`. The same run signed again (a retry) adds
/// nothing; another run of the same image adds its own two referrers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundles_are_referrers_that_cosign_v3_verifies() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "bundle", BUNDLE_CONFIG).await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}", regs.open);
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", &format!("{image}:v1"), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let listed = referrers(&regs, &regs.open, &repo, &digest).await;
    assert_eq!(
        predicate_types(&listed),
        ["https://sigstore.dev/cosign/sign/v1", "https://slsa.dev/provenance/v0.2"],
        "{listed:?}"
    );
    let by_digest = format!("{image}@{digest}");
    verify_bundles(&keys, &by_digest, &["--insecure-ignore-tlog=true"], &[]);

    // Identical content (same statement, deterministic ECDSA, same completion time): the same referrers.
    build_taskrun(&env, &ns, "again", "default", &format!("{image}:v1"), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "again").await, "true");
    assert_eq!(referrers(&regs, &regs.open, &repo, &digest).await.len(), 2);
    build_taskrun_at(&env, &ns, "rebuild", "default", &format!("{image}:v1"), &digest, "2026-11-23T11:00:00Z").await;
    assert_eq!(signed(&env, &ns, "TaskRun", "rebuild").await, "true");
    let listed = referrers(&regs, &regs.open, &repo, &digest).await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    verify_bundles(&keys, &by_digest, &["--insecure-ignore-tlog=true"], &[]);
}

/// Transparency on, TLS + htpasswd registry with the run's credentials:
/// each bundle carries its Rekor entry with the inclusion proof, and cosign
/// v3 verifies it against a trusted root holding only the local log
/// (`cosign trusted-root create --rekor ...`), with no `--insecure-ignore-tlog`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logged_bundles_verify_against_a_trusted_root_of_the_local_rekor() {
    let env = Env::new().await;
    let regs = registries();
    let rekor = rekor();
    let keys = cosign_keys(&support::cosign().unwrap());
    let mut config = BUNDLE_CONFIG.to_vec();
    config.extend([("transparency.enabled", "true"), ("transparency.url", rekor.url.as_str())]);
    let ns = namespace_with_config(&env, "bundlelog", &config).await;
    let (image, repo, digest, _s) = signed_with_credentials(&env, &regs, &ns, &keys, "team/private").await;
    let listed = referrers(&regs, &regs.auth, &repo, &digest).await;
    assert_eq!(listed.len(), 2, "{listed:?}");

    let dir = tmpdir("trusted-root");
    let trusted_root = |name: &str, key: &Path| {
        let out = dir.join(name);
        let spec = format!("url={},public-key={},start-time=2020-01-01T00:00:00Z", rekor.url, key.display());
        let (ok, log) =
            cosign3(&keys, &["trusted-root", "create", "--rekor", &spec, "--out", out.to_str().unwrap()], &[]);
        assert!(ok, "{log}");
        out
    };
    let root = trusted_root("trusted_root.json", &rekor.public_key);
    let docker = regs.docker_config();
    let env_vars = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];
    let by_digest = format!("{image}@{digest}");
    verify_bundles(&keys, &by_digest, &["--trusted-root", root.to_str().unwrap()], &env_vars);

    // With another key as the log's, the tlog check fails: it is really checked.
    let other = trusted_root("other_root.json", &keys.join("cosign.pub"));
    let args = ["verify", "--new-bundle-format", "--key", "cosign.pub", "--trusted-root", other.to_str().unwrap()];
    let (ok, out) = cosign3(&keys, &[&args[..], &[by_digest.as_str()]].concat(), &env_vars);
    assert!(!ok, "verified against a log it does not trust: {out}");
}

/// Through a token-auth (Bearer) registry, Gitea's (no Referrers API
/// either): the bundles land and cosign v3 verifies them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundles_go_through_a_token_auth_registry() {
    let env = Env::new().await;
    let (_, vars) = support::component_env("TEST_GITEA_ENV", "gitea", "test-gitea");
    let regs = Registries::gitea(&vars);
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "bundletoken", BUNDLE_CONFIG).await;
    let (image, _, digest, _s) = signed_with_credentials(&env, &regs, &ns, &keys, "chains/bundled").await;
    let docker = regs.docker_config();
    let env_vars = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];
    verify_bundles(&keys, &format!("{image}@{digest}"), &["--insecure-ignore-tlog=true"], &env_vars);
}
