//! KMS signing against real KMS servers: Vault Transit (hashivault://) and
//! local-kms (awskms://, in `kms/aws.rs`), verified with the real cosign,
//! through the KMS and with exported PEMs.

#[path = "kms/aws.rs"]
mod aws;
#[path = "kms/login.rs"]
mod login;
mod support;

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use support::events::event_with;
use support::runs::{finished_taskrun, signed};
use support::vault::{Vault, vault};
use support::{Env, namespace_with_config, runs_api, signer_options, start_signer, tmpdir, unique_ns};

/// A namespace whose chains-config signs TaskRuns (tekton format, tekton
/// storage) with the Transit key `kmsref`.
async fn kms_namespace(env: &Env, vault: &Vault, kmsref: &str) -> String {
    kms_namespace_at(env, "kms", kmsref, &vault.addr, &vault.token).await
}

/// [`kms_namespace`] with another Vault address or token.
async fn kms_namespace_at(env: &Env, prefix: &str, kmsref: &str, addr: &str, token: &str) -> String {
    kms_tekton_namespace(env, prefix, kmsref, &[("signers.kms.auth.address", addr), ("signers.kms.auth.token", token)])
        .await
}

/// A namespace whose chains-config signs TaskRuns (tekton format and
/// storage) with `kmsref`, with the `auth` keys given.
async fn kms_tekton_namespace(env: &Env, prefix: &str, kmsref: &str, auth: &[(&str, &str)]) -> String {
    let mut config = vec![
        ("artifacts.oci.storage", ""),
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.taskrun.storage", "tekton"),
        ("artifacts.taskrun.signer", "kms"),
        ("signers.kms.kmsref", kmsref),
    ];
    config.extend_from_slice(auth);
    namespace_with_config(env, prefix, &config).await
}

/// The run's signature and payload, written to a fresh folder.
async fn stored(env: &Env, ns: &str, name: &str) -> std::path::PathBuf {
    let o = runs_api(env, ns, "TaskRun").get(name).await.unwrap();
    let uid = o.metadata.uid.clone().unwrap();
    let a = o.metadata.annotations.unwrap_or_default();
    let dir = tmpdir("kms-verify");
    std::fs::write(dir.join("signature"), &a[&format!("chains.tekton.dev/signature-taskrun-{uid}")]).unwrap();
    let payload = STANDARD.decode(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")]).unwrap();
    std::fs::write(dir.join("payload"), payload).unwrap();
    dir
}

/// `cosign ARGS` in `dir`, with the Vault's address and token if any: (success, output).
fn cosign_in(vault: Option<&Vault>, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(support::cosign().expect("cosign"));
    cmd.args(args).current_dir(dir);
    if let Some(v) = vault {
        cmd.env("VAULT_ADDR", &v.addr).env("VAULT_TOKEN", &v.token);
    }
    let out = cmd.output().expect("run cosign");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The signer counted `n` KMS requests.
fn assert_kms_requests(s: &support::RunningSigner, n: u32) {
    let m = s.signer.metrics.render();
    let lines: Vec<&str> = m.lines().filter(|l| l.contains("kms")).collect();
    assert!(m.contains(&format!("signer_kms_requests_total {n}")), "{}", lines.join("\n"));
}

/// `cosign verify` and `cosign verify-attestation --type slsaprovenance` of
/// `image` with `key`, offline (no transparency log): both must pass.
fn verify_image(vault: Option<&Vault>, key: &str, image: &str) {
    let here = std::env::temp_dir();
    for args in [
        vec!["verify", "--key", key, "--insecure-ignore-tlog=true", image],
        vec!["verify-attestation", "--key", key, "--insecure-ignore-tlog=true", "--type", "slsaprovenance", image],
    ] {
        let (ok, text) = cosign_in(vault, &here, &args);
        assert!(ok, "cosign {args:?}: {text}");
    }
}

/// `cosign verify-blob --key <key>` of the folder's signature: (verified, output).
fn verify_blob(vault: &Vault, dir: &std::path::Path, key: &str) -> (bool, String) {
    verify_blob_with(Some(vault), dir, key)
}

/// [`verify_blob`], with or without a Vault.
fn verify_blob_with(vault: Option<&Vault>, dir: &std::path::Path, key: &str) -> (bool, String) {
    let args = ["verify-blob", "--insecure-ignore-tlog=true", "--key", key, "--signature", "signature", "payload"];
    let (ok, text) = cosign_in(vault, dir, &args);
    (ok && text.contains("Verified OK"), text)
}

fn write_pem(dir: &std::path::Path, name: &str, pem: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p.to_str().unwrap().to_string()
}

/// Transit gives ed25519 public keys as base64 bytes: wrapped as SPKI PEM.
fn ed25519_pem(raw_b64: &str) -> String {
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend(STANDARD.decode(raw_b64.trim()).unwrap());
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(der))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transit_keys_of_each_type_sign_runs_that_cosign_verifies() {
    let env = Env::new().await;
    let vault = vault();
    // (Transit type, verifies through the KMS URI too): cosign checks RSA
    // through Vault as PSS but with a PEM as PKCS #1 v1.5, and cannot check
    // ed25519 through Vault; the PEM is what Rekor and verifiers use.
    for (kind, through_kms) in [("ecdsa-p256", true), ("ecdsa-p384", true), ("ed25519", false), ("rsa-2048", false)] {
        let key = unique_ns(&format!("chains-{kind}"));
        vault.new_key(&key, kind);
        let ns = kms_namespace(&env, &vault, &format!("hashivault://{key}")).await;
        let s =
            start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
        finished_taskrun(&env, &ns, "build", json!({}), json!([])).await;
        assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true", "{kind}");
        let dir = stored(&env, &ns, "build").await;
        let pem = vault.public_pem(&key, 1);
        let pem = if kind == "ed25519" { ed25519_pem(&pem) } else { pem };
        let (ok, out) = verify_blob(&vault, &dir, &write_pem(&dir, "v1.pem", &pem));
        assert!(ok, "{kind}: cosign verify-blob --key <exported PEM>: {out}");
        if through_kms {
            let (ok, out) = verify_blob(&vault, &dir, &format!("hashivault://{key}"));
            assert!(ok, "{kind}: cosign verify-blob --key hashivault://{key}: {out}");
        }
        drop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_transit_key_signs_the_next_run_without_a_restart() {
    let env = Env::new().await;
    let vault = vault();
    let key = unique_ns("chains-rotate");
    vault.new_key(&key, "ecdsa-p256");
    let ns = kms_namespace(&env, &vault, &format!("hashivault://{key}")).await;
    let _s =
        start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "before", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "before").await, "true");

    let (ok, out) = vault.cli(&["write", "-f", &format!("transit/keys/{key}/rotate")]);
    assert!(ok, "{out}");
    finished_taskrun(&env, &ns, "after", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "after").await, "true");

    let (before, after) = (stored(&env, &ns, "before").await, stored(&env, &ns, "after").await);
    let v1 = write_pem(&before, "v1.pem", &vault.public_pem(&key, 1));
    let v2 = write_pem(&after, "v2.pem", &vault.public_pem(&key, 2));
    assert!(verify_blob(&vault, &before, &v1).0, "the first run: version 1");
    assert!(verify_blob(&vault, &after, &v2).0, "the next run: the new version 2, no restart");
    assert!(!verify_blob(&vault, &after, &v1).0, "not the old version");
    // cosign v2.6's `--key hashivault://KEY` checks against version 1 only
    // (its Vault verifier prefixes vault:v1:): after a rotation, verify with
    // the exported PEM of the version, as above.
    assert!(verify_blob(&vault, &before, &format!("hashivault://{key}")).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_key_fails_the_run_with_an_event_naming_the_kmsref_never_the_token() {
    let env = Env::new().await;
    let vault = vault();
    let kmsref = format!("hashivault://{}", unique_ns("no-such-key"));
    let ns = kms_namespace(&env, &vault, &kmsref).await;
    let _s =
        start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "build", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "failed");
    let e = event_with(&env, &ns, Some("build"), "SigningFailed", &[&kmsref]).await;
    assert!(!e.contains(&vault.token), "the token leaked: {e}");
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!a.keys().any(|k| k.contains("signature-")), "no signature from any other key: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn images_signed_and_attested_with_a_transit_key_verify_through_vault_and_the_pem() {
    let env = Env::new().await;
    let vault = vault();
    let regs = support::registry::registries();
    let key = unique_ns("chains-oci");
    vault.new_key(&key, "ecdsa-p256");
    let kmsref = format!("hashivault://{key}");
    let ns = namespace_with_config(
        &env,
        "kms-oci",
        &[
            ("artifacts.taskrun.format", "in-toto"),
            ("artifacts.taskrun.storage", "oci"),
            ("artifacts.oci.storage", "oci"),
            ("artifacts.taskrun.signer", "kms"),
            ("artifacts.oci.signer", "kms"),
            ("signers.kms.kmsref", &kmsref),
            ("signers.kms.auth.address", &vault.addr),
            ("signers.kms.auth.token", &vault.token),
        ],
    )
    .await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let by_digest = format!("{}/{repo}@{digest}", regs.open);
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    support::runs::build_taskrun(&env, &ns, "build", "default", &format!("{}/{repo}:v1", regs.open), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");

    let dir = tmpdir("kms-oci");
    let pem = write_pem(&dir, "cosign.pub", &vault.public_pem(&key, 1));
    for k in [kmsref.as_str(), pem.as_str()] {
        verify_image(Some(&vault), k, &by_digest);
    }
    // One public key fetch for the process, then one request per signature
    // (the image's signature and the run's attestation).
    assert_kms_requests(&s, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vault_down_or_refusing_fails_runs_with_an_event_and_no_other_key() {
    let env = Env::new().await;
    let vault = vault();
    let key = unique_ns("chains-refuse");
    vault.new_key(&key, "ecdsa-p256");
    // A token with no policy: Vault answers 403 (permanent: it fails at once).
    let (ok, out) = vault.cli(&["token", "create", "-policy=default", "-field=token"]);
    assert!(ok, "{out}");
    let weak = out.trim().to_string();
    let kmsref = format!("hashivault://{key}");
    let ns = kms_namespace_at(&env, "kms-403", &kmsref, &vault.addr, &weak).await;
    let keys = support::cosign_keys(&support::cosign().unwrap());
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "denied", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "denied").await, "failed");
    let e = event_with(&env, &ns, Some("denied"), "SigningFailed", &[&kmsref, "403"]).await;
    assert!(!e.contains(&weak) && !e.contains(&vault.token), "a token leaked: {e}");
    let a = runs_api(&env, &ns, "TaskRun").get("denied").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!a.keys().any(|k| k.contains("signature-")), "the local key is never used instead: {a:?}");
    drop(s);

    // Vault unreachable: retried (a remote that is down), then failed.
    let down = format!("http://127.0.0.1:{}", support::free_port());
    let ns = kms_namespace_at(&env, "kms-down", &kmsref, &down, &vault.token).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.retry_backoff = std::time::Duration::from_millis(20);
    let s = start_signer(env.signer_client(&ns).await, opts).await;
    finished_taskrun(&env, &ns, "down", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "down").await, "failed");
    let e = event_with(&env, &ns, Some("down"), "SigningFailed", &[&kmsref, "unreachable", "giving up after"]).await;
    assert!(!e.contains(&vault.token), "the token leaked: {e}");
    let m = s.signer.metrics.render();
    assert!(m.contains("reason=\"unreachable\""), "{m}");
}
