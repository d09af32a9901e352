//! The signer logs in to Vault with its own ServiceAccount token (what a
//! projected volume holds, audience `vault`), by Vault's `jwt` method (the
//! token checked against the API server's key) and by its `kubernetes`
//! method (the token checked by the API server, through a TokenReview).

use serde_json::json;

use super::support::runs::{finished_taskrun, signed};
use super::support::vault::{Vault, vault};
use super::support::{self, Env, namespace_with_config, signer_options, start_signer, tmpdir, unique_ns};
use super::{kms_tekton_namespace, stored, verify_blob, write_pem};

/// How Vault checks the signer's token.
enum Method {
    Jwt,
    Kubernetes,
}

/// `vault ARGS…`, which must succeed.
fn vault_ok(vault: &Vault, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = vault.cli(&args);
    assert!(ok, "vault {args:?}: {out}");
}

/// The auth method at `mount`, set up to trust the test API server's tokens.
async fn enable(env: &Env, vault: &Vault, method: &Method, mount: &str) {
    let cluster = env.kubeconfig.parent().unwrap();
    // The issuer of the tokens it signs (hack/cluster.sh: the API server itself).
    let issuer = std::fs::read_to_string(cluster.join("issuer")).unwrap().trim().to_string();
    match method {
        Method::Jwt => {
            vault_ok(vault, &["auth".into(), "enable".into(), format!("-path={mount}"), "jwt".into()]);
            let pubkey = format!("jwt_validation_pubkeys=@{}", cluster.join("pki/sa.pub").display());
            vault_ok(
                vault,
                &["write".into(), format!("auth/{mount}/config"), pubkey, format!("bound_issuer={issuer}")],
            );
        }
        Method::Kubernetes => {
            vault_ok(vault, &["auth".into(), "enable".into(), format!("-path={mount}"), "kubernetes".into()]);
            // Vault's own identity for TokenReviews: a ServiceAccount with system:auth-delegator.
            let ns = namespace_with_config(env, "vault-reviewer", &[]).await;
            let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
                kube::Api::namespaced(env.client.clone(), &ns);
            let sa = serde_json::from_value(json!({ "metadata": { "name": "vault" } })).unwrap();
            sas.create(&Default::default(), &sa).await.unwrap();
            let crbs: kube::Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = kube::Api::all(env.client.clone());
            let crb = json!({ "metadata": { "name": format!("vault-reviewer-{ns}") },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator" },
                "subjects": [{ "kind": "ServiceAccount", "name": "vault", "namespace": ns }] });
            crbs.create(&Default::default(), &serde_json::from_value(crb).unwrap()).await.unwrap();
            let reviewer = support::sa_token(env, &ns, "vault", &issuer).await;
            vault_ok(
                vault,
                &[
                    "write".into(),
                    format!("auth/{mount}/config"),
                    format!("kubernetes_host={issuer}"),
                    format!("kubernetes_ca_cert=@{}", cluster.join("pki/ca.crt").display()),
                    format!("token_reviewer_jwt={reviewer}"),
                ],
            );
        }
    }
}

/// The role `chains` at `mount`: the signer's ServiceAccount in `ns`, audience vault, policy `key`.
fn role(vault: &Vault, method: &Method, mount: &str, ns: &str, key: &str) {
    let sa = tekton_chains_operator::tekton::objects::SERVICE_ACCOUNT;
    let path = format!("auth/{mount}/role/chains");
    let mut args: Vec<String> = vec!["write".into(), path, format!("token_policies={key}"), "token_ttl=1h".into()];
    args.extend(match method {
        Method::Jwt => vec![
            "role_type=jwt".into(),
            "bound_audiences=vault".into(),
            "user_claim=sub".into(),
            format!("bound_subject=system:serviceaccount:{ns}:{sa}"),
        ],
        Method::Kubernetes => vec![
            format!("bound_service_account_names={sa}"),
            format!("bound_service_account_namespaces={ns}"),
            "audience=vault".into(),
        ],
    });
    vault_ok(vault, &args);
}

/// A Transit key, a login by `method` for the signer of a fresh namespace,
/// a run signed through it and verified with the key's PEM.
async fn login_and_sign(method: Method) {
    let env = Env::new().await;
    // Vault checks tokens of the cluster hack/cluster.sh started; an external one has no such files.
    let cluster = env.kubeconfig.parent().unwrap();
    if !cluster.join("issuer").exists() || !cluster.join("pki/sa.pub").exists() {
        eprintln!("skipped: {} is not a hack/cluster.sh cluster", cluster.display());
        return;
    }
    let vault = vault();
    let key = unique_ns("chains-login");
    vault.new_key(&key, "ecdsa-p256");
    let policy = format!(
        "path \"transit/sign/{key}\" {{ capabilities = [\"update\"] }}\n\
         path \"transit/sign/{key}/*\" {{ capabilities = [\"update\"] }}\n\
         path \"transit/keys/{key}\" {{ capabilities = [\"read\"] }}\n"
    );
    let policy_file = tmpdir("vault-policy").join("policy.hcl");
    std::fs::write(&policy_file, policy).unwrap();
    vault_ok(&vault, &["policy".into(), "write".into(), key.clone(), policy_file.to_str().unwrap().into()]);
    let mount = unique_ns("login");
    enable(&env, &vault, &method, &mount).await;
    let token_file = tmpdir("sa-token").join("token");
    let kmsref = format!("hashivault://{key}");
    let auth = [
        ("signers.kms.auth.address", vault.addr.as_str()),
        ("signers.kms.auth.oidc.path", &mount),
        ("signers.kms.auth.oidc.role", "chains"),
        ("signers.kms.auth.oidc.token-path", token_file.to_str().unwrap()),
    ];
    let ns = kms_tekton_namespace(&env, "kms-login", &kmsref, &auth).await;
    role(&vault, &method, &mount, &ns, &key);
    let client = env.signer_client(&ns).await;
    // The token a projected volume would hold, in a file.
    let sa = tekton_chains_operator::tekton::objects::SERVICE_ACCOUNT;
    std::fs::write(&token_file, support::sa_token(&env, &ns, sa, "vault").await).unwrap();
    let _s = start_signer(client, signer_options(&ns, &tmpdir("no-keys"), vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "build", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let dir = stored(&env, &ns, "build").await;
    assert!(verify_blob(&vault, &dir, &write_pem(&dir, "v1.pem", &vault.public_pem(&key, 1))).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_logs_in_to_vault_with_its_service_account_token() {
    login_and_sign(Method::Jwt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_logs_in_by_vaults_kubernetes_auth_method() {
    login_and_sign(Method::Kubernetes).await;
}
