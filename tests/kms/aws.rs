//! awskms:// against local-kms: each key spec verified by cosign through the
//! KMS and with the exported PEM, images and attestations, an alias moved to
//! a new key, and the failures.

use serde_json::json;

use super::support::events::event_with;
use super::support::localkms::{LocalKms, local_kms};
use super::support::runs::{finished_taskrun, signed};
use super::support::{self, Env, namespace_with_config, runs_api, signer_options, start_signer, tmpdir, unique_ns};
use super::{assert_kms_requests, cosign_in, kms_tekton_namespace, stored, verify_blob_with, verify_image, write_pem};
use tekton_chains_operator::tekton::objects::SERVICE_ACCOUNT;

/// A namespace whose chains-config signs TaskRuns (tekton format and
/// storage) with `kmsref` (AWS credentials: the environment's).
async fn aws_namespace(env: &Env, prefix: &str, kmsref: &str) -> String {
    kms_tekton_namespace(env, prefix, kmsref, &[]).await
}

/// A fresh key of `spec` behind a fresh alias: (key id, `awskms:///alias/NAME`).
async fn aliased_key(kms: &LocalKms, spec: &str) -> (String, String) {
    let key = kms.new_key(spec).await;
    let alias = unique_ns("chains");
    kms.alias(&alias, &key).await;
    (key, format!("awskms:///alias/{alias}"))
}

/// The public key of `kmsref` as `cosign public-key --key <kmsref>` exports it, in `dir`.
fn exported_pem(dir: &std::path::Path, kmsref: &str, name: &str) -> String {
    let (ok, pem) = cosign_in(None, dir, &["public-key", "--key", kmsref]);
    assert!(ok && pem.contains("BEGIN PUBLIC KEY"), "cosign public-key --key {kmsref}: {pem}");
    write_pem(dir, name, &pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_keys_of_each_spec_sign_runs_that_cosign_verifies() {
    let kms = local_kms();
    let env = Env::new().await;
    // (spec, verifies with the PEM, verifies through the KMS URI): cosign
    // checks a P-384 PEM over SHA-256 only (AWS signs P-384 over SHA-384),
    // and RSA through the KMS as PSS (we sign PKCS #1 v1.5, as a PEM, Rekor
    // and Vault keys check it).
    for (spec, by_pem, by_kms) in
        [("ECC_NIST_P256", true, true), ("ECC_NIST_P384", false, true), ("RSA_2048", true, false)]
    {
        let (key, kmsref) = aliased_key(&kms, spec).await;
        // The alias, and the key's ARN: both name the same key.
        for (i, kmsref) in [kmsref.clone(), format!("awskms:///{}", kms.arn(&key))].iter().enumerate() {
            let ns = aws_namespace(&env, "awskms", kmsref).await;
            let s =
                start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()]))
                    .await;
            finished_taskrun(&env, &ns, "build", json!({}), json!([])).await;
            assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true", "{spec} {kmsref}");
            let dir = stored(&env, &ns, "build").await;
            let pem = exported_pem(&dir, kmsref, "cosign.pub");
            let (ok, out) = verify_blob_with(None, &dir, &pem);
            assert_eq!(ok, by_pem, "{spec}: cosign verify-blob --key <exported PEM>: {out}");
            if by_kms || i == 0 {
                let (ok, out) = verify_blob_with(None, &dir, kmsref);
                assert_eq!(ok, by_kms, "{spec}: cosign verify-blob --key {kmsref}: {out}");
            }
            drop(s);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alias_moved_to_a_new_key_signs_the_next_run_without_a_restart() {
    let kms = local_kms();
    let env = Env::new().await;
    let (_, kmsref) = aliased_key(&kms, "ECC_NIST_P256").await;
    let alias = kmsref.trim_start_matches("awskms:///alias/").to_string();
    let ns = aws_namespace(&env, "awskms-rotate", &kmsref).await;
    let _s =
        start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "before", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "before").await, "true");
    let before = stored(&env, &ns, "before").await;
    let old = exported_pem(&before, &kmsref, "old.pub");

    // Rotation on AWS: a new key, and the alias moved to it.
    let new_key = kms.new_key("ECC_NIST_P256").await;
    kms.alias(&alias, &new_key).await;
    finished_taskrun(&env, &ns, "after", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "after").await, "true");
    let after = stored(&env, &ns, "after").await;
    let new = exported_pem(&after, &kmsref, "new.pub");
    assert!(verify_blob_with(None, &before, &old).0, "the first run: the old key");
    assert!(verify_blob_with(None, &after, &new).0, "the next run: the new key, no restart");
    assert!(!verify_blob_with(None, &after, &old).0, "not the old key");
    assert!(verify_blob_with(None, &after, &kmsref).0, "and through the alias, which names the new key now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn images_signed_and_attested_with_an_aws_key_verify_through_kms_and_the_pem() {
    let kms = local_kms();
    let env = Env::new().await;
    let regs = support::registry::registries();
    let (_, kmsref) = aliased_key(&kms, "ECC_NIST_P256").await;
    let ns = namespace_with_config(
        &env,
        "awskms-oci",
        &[
            ("artifacts.taskrun.format", "in-toto"),
            ("artifacts.taskrun.storage", "oci"),
            ("artifacts.oci.storage", "oci"),
            ("artifacts.taskrun.signer", "kms"),
            ("artifacts.oci.signer", "kms"),
            ("signers.kms.kmsref", &kmsref),
        ],
    )
    .await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let by_digest = format!("{}/{repo}@{digest}", regs.open);
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    support::runs::build_taskrun(&env, &ns, "build", "default", &format!("{}/{repo}:v1", regs.open), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let pem = exported_pem(&tmpdir("awskms-oci"), &kmsref, "cosign.pub");
    for k in [kmsref.as_str(), pem.as_str()] {
        verify_image(None, k, &by_digest);
    }
    // One GetPublicKey for the process, then one Sign per signature.
    assert_kms_requests(&s, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_or_unreachable_aws_key_fails_runs_with_an_event_and_no_other_key() {
    let kms = local_kms();
    let env = Env::new().await;
    let keys = support::cosign_keys(&support::cosign().unwrap());
    // An alias nobody made: NotFoundException, permanent.
    let kmsref = format!("awskms:///alias/{}", unique_ns("no-such-key"));
    let ns = aws_namespace(&env, "awskms-404", &kmsref).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "unknown", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "unknown").await, "failed");
    let e = event_with(&env, &ns, Some("unknown"), "SigningFailed", &[&kmsref, "NotFoundException"]).await;
    assert!(!e.contains(&kms.secret), "the secret key leaked: {e}");
    let a = runs_api(&env, &ns, "TaskRun").get("unknown").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!a.keys().any(|k| k.contains("signature-")), "the local key is never used instead: {a:?}");
    drop(s);

    // A KMS endpoint in the reference that nobody serves: retried, then failed.
    let kmsref = format!("awskms://127.0.0.1:{}/alias/chains", support::free_port());
    let ns = aws_namespace(&env, "awskms-down", &kmsref).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.retry_backoff = std::time::Duration::from_millis(20);
    let s = start_signer(env.signer_client(&ns).await, opts).await;
    finished_taskrun(&env, &ns, "down", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "down").await, "failed");
    let e = event_with(&env, &ns, Some("down"), "SigningFailed", &[&kmsref, "unreachable", "giving up after"]).await;
    assert!(!e.contains(&kms.secret), "the secret key leaked: {e}");
    assert!(s.signer.metrics.render().contains("reason=\"unreachable\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_gets_aws_credentials_from_its_web_identity_token() {
    let kms = local_kms();
    let env = Env::new().await;
    let (_, kmsref) = aliased_key(&kms, "ECC_NIST_P256").await;
    let ns = aws_namespace(&env, "awskms-irsa", &kmsref).await;
    let signer = env.signer_identity(&ns).await;
    // EKS IRSA: a projected token (audience sts.amazonaws.com) and the role to assume.
    let token_file = tmpdir("irsa").join("token");
    std::fs::write(&token_file, support::sa_token(&env, &ns, SERVICE_ACCOUNT, "sts.amazonaws.com").await).unwrap();
    let sts_posts =
        || std::fs::read_to_string(&kms.sts_log).unwrap_or_default().matches("\"POST / HTTP/1.1\" 200").count();
    let before = sts_posts();
    let arn = format!("arn:aws:iam::{}:role/chains-signer", kms.account);
    let vars = [
        // No static credentials: only the web identity token can get them.
        ("AWS_ACCESS_KEY_ID", None),
        ("AWS_SECRET_ACCESS_KEY", None),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str()),
        ("AWS_ROLE_ARN", Some(arn.as_str())),
        ("AWS_ROLE_SESSION_NAME", Some("tekton-chains")),
        ("AWS_ENDPOINT_URL_STS", Some(kms.sts.as_str())),
        ("AWS_EC2_METADATA_DISABLED", Some("true")),
    ];
    let child = support::signer_process(&ns, &signer, &vars);
    finished_taskrun(&env, &ns, "build", json!({}), json!([])).await;
    let result = signed(&env, &ns, "TaskRun", "build").await;
    let output = child.output();
    drop(child);
    assert_eq!(result, "true", "{output}");
    assert!(sts_posts() > before, "the signer asked STS (AssumeRoleWithWebIdentity)");
    let dir = stored(&env, &ns, "build").await;
    let pem = exported_pem(&dir, &kmsref, "cosign.pub");
    assert!(verify_blob_with(None, &dir, &pem).0);
}
