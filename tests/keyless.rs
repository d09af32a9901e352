//! Keyless signing against a real Fulcio (ephemeral CA) whose OIDC issuer is
//! the test API server, and the real Rekor: the signer's own ServiceAccount
//! token (audience `sigstore`) gets a certificate; cosign verifies images,
//! attestations and tekton-stored payloads by certificate identity, online.

mod support;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use support::events::event_with;
use support::fulcio::{Fulcio, fulcio};
use support::rekor::{Rekor, rekor};
use support::runs::{build_taskrun, cosign, finished_taskrun, signed};
use support::{Env, SIGNER_SERVICE_ACCOUNT, namespace_with_config, runs_api, signer_options, start_signer, tmpdir};

/// A namespace signing with Fulcio: in-toto to OCI and tekton storage, images
/// too, every signature logged in Rekor (dsse entries). The token comes from
/// `provider`; the filesystem one's file is filled later.
async fn keyless_namespace(env: &Env, fulcio_url: &str, rekor: &Rekor, provider: &str, token_file: &Path) -> String {
    namespace_with_config(
        env,
        "keyless",
        &[
            ("artifacts.taskrun.format", "in-toto"),
            ("signers.x509.fulcio.provider", provider),
            ("artifacts.taskrun.storage", "oci,tekton"),
            ("artifacts.oci.storage", "oci"),
            ("signers.x509.fulcio.enabled", "true"),
            ("signers.x509.fulcio.address", fulcio_url),
            ("signers.x509.identity.token.file", token_file.to_str().unwrap()),
            ("transparency.enabled", "true"),
            ("transparency.url", &rekor.url),
            // What upstream Chains v0.29+ logs, and what `cosign
            // verify-blob-attestation` finds online (it searches intoto
            // v0.0.1 and dsse entries, not intoto v0.0.2).
            ("transparency.entry-kind", "dsse"),
        ],
    )
    .await
}

/// cosign with the test Fulcio root and Rekor key trusted, in `dir`.
fn cosign_keyless(f: &Fulcio, rekor: &Rekor, dir: &Path, args: &[&str]) -> (bool, String) {
    let root = f.root.display().to_string();
    let rk = rekor.public_key.display().to_string();
    cosign(dir, args, &[("SIGSTORE_ROOT_FILE", &root), ("SIGSTORE_REKOR_PUBLIC_KEY", &rk)])
}

/// `cosign verify` and `verify-attestation` of `image` by identity `who`, online.
fn cosign_verifies_image(f: &Fulcio, rekor: &Rekor, dir: &Path, who: &[&str], image: &str) {
    let online = ["--rekor-url", &rekor.url];
    let verify = [&["verify"][..], who, &online, &[image]].concat();
    let (ok, out) = cosign_keyless(f, rekor, dir, &verify);
    assert!(ok && out.contains("transparency log was verified"), "cosign verify: {out}");
    let attest = [&["verify-attestation", "--type", "slsaprovenance"][..], who, &online, &[image]].concat();
    let (ok, out) = cosign_keyless(f, rekor, dir, &attest);
    assert!(ok && out.contains("transparency log was verified"), "cosign verify-attestation: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyless_signatures_verify_by_certificate_identity_online() {
    let env = Env::new().await;
    let Some(f) = fulcio(env.kubeconfig.parent().unwrap()) else {
        eprintln!("skipped: the cluster is not a hack/cluster.sh one (its issuer is not ours)");
        return;
    };
    let rekor = rekor();
    let regs = support::registry::registries();
    let token_file = tmpdir("oidc").join("oidc-token");
    let ns = keyless_namespace(&env, &f.url, &rekor, "", &token_file).await;
    let client = env.signer_client(&ns).await;
    // What the projected volume holds: the signer's own token, audience sigstore.
    std::fs::write(&token_file, support::sa_token(&env, &ns, SIGNER_SERVICE_ACCOUNT, "sigstore").await).unwrap();
    let s = start_signer(client, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;

    let repo = format!("team/{}", support::unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}@{digest}", regs.open);
    build_taskrun(&env, &ns, "build", "default", &format!("{}/{repo}:v1", regs.open), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    finished_taskrun(&env, &ns, "second", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "second").await, "true");

    let identity = Fulcio::identity(&ns, SIGNER_SERVICE_ACCOUNT);
    let who = ["--certificate-identity", &identity, "--certificate-oidc-issuer", &f.issuer, "--insecure-ignore-sct"];
    let dir = tmpdir("keyless-verify");
    let online = ["--rekor-url", &rekor.url];
    cosign_verifies_image(&f, &rekor, &dir, &who, &image);

    // tekton storage: the envelope, certificate and chain in annotations.
    let o = runs_api(&env, &ns, "TaskRun").get("second").await.unwrap();
    let uid = o.metadata.uid.clone().unwrap();
    let a = o.metadata.annotations.unwrap_or_default();
    let get = |k: &str| a.get(&format!("chains.tekton.dev/{k}-taskrun-{uid}")).cloned().unwrap_or_default();
    let cert = STANDARD.decode(get("cert")).unwrap();
    assert!(String::from_utf8_lossy(&cert).contains("BEGIN CERTIFICATE"), "cert-taskrun-<uid>");
    assert!(!get("chain").is_empty(), "chain-taskrun-<uid>");
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("chain.pem"), STANDARD.decode(get("chain")).unwrap()).unwrap();
    std::fs::write(dir.join("envelope.json"), STANDARD.decode(get("signature")).unwrap()).unwrap();
    std::fs::write(dir.join("blob"), b"the subject is not checked").unwrap();
    let blob = [
        &["verify-blob-attestation", "--type", "slsaprovenance", "--check-claims=false"][..],
        &["--certificate", "cert.pem", "--certificate-chain", "chain.pem", "--signature", "envelope.json"],
        &who,
        &online,
        &["blob"],
    ]
    .concat();
    let (ok, out) = cosign_keyless(&f, &rekor, &dir, &blob);
    assert!(ok && out.contains("Verified OK"), "cosign verify-blob-attestation: {out}");

    // One certificate for both runs: one Fulcio request per certificate lifetime.
    let m = s.signer.metrics.render();
    assert!(
        m.contains("signer_fulcio_requests_total 1"),
        "{}",
        m.lines().filter(|l| l.contains("fulcio")).collect::<Vec<_>>().join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_a_rejected_token_or_fulcio_down_fail_runs_and_never_use_a_key() {
    let env = Env::new().await;
    let Some(f) = fulcio(env.kubeconfig.parent().unwrap()) else {
        eprintln!("skipped: the cluster is not a hack/cluster.sh one");
        return;
    };
    let rekor = rekor();
    let keys = support::cosign_keys(&support::cosign().unwrap());
    for (case, provider, url, token) in [
        ("no-token", "", f.url.clone(), None),
        ("rejected", "", f.url.clone(), Some("audience vault")),
        ("down", "", format!("http://127.0.0.1:{}", support::free_port()), Some("sigstore")),
        // No SPIRE agent at cosign's default socket (this process has no SPIFFE_ENDPOINT_SOCKET).
        ("no-spire-agent", "spiffe", f.url.clone(), None),
    ] {
        let token_file = tmpdir("oidc").join("oidc-token");
        let ns = keyless_namespace(&env, &url, &rekor, provider, &token_file).await;
        let client = env.signer_client(&ns).await;
        if let Some(t) = token {
            let audience = t.trim_start_matches("audience ");
            std::fs::write(&token_file, support::sa_token(&env, &ns, SIGNER_SERVICE_ACCOUNT, audience).await).unwrap();
        }
        let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
        opts.retry_backoff = std::time::Duration::from_millis(20);
        let s = start_signer(client, opts).await;
        finished_taskrun(&env, &ns, case, json!({}), json!([])).await;
        assert_eq!(signed(&env, &ns, "TaskRun", case).await, "failed", "{case}");
        let why = match case {
            "no-token" => "oidc-token",
            "rejected" => "error processing the identity token",
            "no-spire-agent" => "the SPIFFE Workload API",
            _ => "unreachable",
        };
        let e = event_with(&env, &ns, Some(case), "SigningFailed", &["Fulcio at", why, "giving up after"]).await;
        assert!(!e.contains("eyJ"), "{case}: a token leaked: {e}");
        let a = runs_api(&env, &ns, "TaskRun").get(case).await.unwrap().metadata.annotations.unwrap_or_default();
        assert!(!a.keys().any(|k| k.contains("signature-")), "{case}: the local key is never used instead: {a:?}");
        drop(s);
    }
}

/// The `spiffe` provider: a signer process whose SPIFFE_ENDPOINT_SOCKET is a
/// real SPIRE agent gets a JWT-SVID (audience sigstore), Fulcio (trusting
/// SPIRE's OIDC discovery) certifies the SPIFFE ID, and cosign verifies the
/// image's signature and attestation by that identity, online.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spiffe_jwt_svid_gets_the_certificate_cosign_verifies() {
    let env = Env::new().await;
    let Some(f) = fulcio(env.kubeconfig.parent().unwrap()) else {
        eprintln!("skipped: the cluster is not a hack/cluster.sh one");
        return;
    };
    let Some(issuer) = f.spiffe_issuer.clone() else {
        eprintln!("skipped: TEST_FULCIO_ENV names no FULCIO_SPIFFE_ISSUER (hack/fulcio.sh up DIR CLUSTER SPIRE_DIR)");
        return;
    };
    let spire = support::spire::spire();
    let rekor = rekor();
    let regs = support::registry::registries();
    let ns = keyless_namespace(&env, &f.url, &rekor, "spiffe", &tmpdir("no-token").join("unused")).await;
    let identity = env.signer_identity(&ns).await;
    let signer = support::signer_process(&ns, &identity, &[("SPIFFE_ENDPOINT_SOCKET", Some(spire.socket.as_str()))]);

    let repo = format!("team/{}", support::unique_ns("spiffe"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}@{digest}", regs.open);
    build_taskrun(&env, &ns, "build", "default", &format!("{}/{repo}:v1", regs.open), &digest).await;
    let result = signed(&env, &ns, "TaskRun", "build").await;
    let output = signer.output();
    drop(signer);
    assert_eq!(result, "true", "{output}");
    assert!(!output.contains("eyJ"), "a token leaked into the log");

    let who = ["--certificate-identity", &spire.id, "--certificate-oidc-issuer", &issuer, "--insecure-ignore-sct"];
    cosign_verifies_image(&f, &rekor, &tmpdir("spiffe-verify"), &who, &image);
}
