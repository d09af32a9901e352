//! RBAC no wider than the code, proven with the API server's audit log.
//!
//! hack/cluster.sh audits every request of a ServiceAccount (Metadata
//! level), and the tests run the operator and the signers as their own
//! ServiceAccounts with tokens of their own (tests/support). After the whole
//! suite, hack/test-integration.sh runs the ignored test below
//! (`cargo test --test rbac_audit -- --ignored --nocapture`, TEST_AUDIT_LOG
//! set), which reads that log and, for the operator's ServiceAccount and
//! every signer's (`system:serviceaccount:*:tekton-chains-controller`):
//!
//! - fails on any request that was denied;
//! - fails on every rule they hold (API group × resource × verb, × name when
//!   the rule names some) that none of their allowed requests used. Rules the
//!   operator holds only to grant them to the signer count when a signer used
//!   the rule they cover;
//! - prints who used which rule how often.
//!
//! The rules are the repository's own: config/rbac/cluster_role.yaml, and
//! the signer's ClusterRole and Role as the operator builds them.
//!
//! The other test here runs a path nothing else runs: `run` mode, both loops
//! with the operator's ServiceAccount.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::rbac::{Grant, grants, operator_rules, owned_resources, signer_rules};
use support::{Env, eventually, runs_api, signer_options, start_signer, unique_ns};
use tekton_chains_operator::crd::TektonChain;

/// Which of the checked identities made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Operator,
    Signer,
}

impl Role {
    fn of(username: &str) -> Option<Role> {
        let sa = username.strip_prefix("system:serviceaccount:")?.split_once(':')?.1;
        match sa {
            support::OPERATOR_SERVICE_ACCOUNT => Some(Role::Operator),
            support::SIGNER_SERVICE_ACCOUNT => Some(Role::Signer),
            _ => None,
        }
    }

    fn pattern(self) -> String {
        let sa = match self {
            Role::Operator => support::OPERATOR_SERVICE_ACCOUNT,
            Role::Signer => support::SIGNER_SERVICE_ACCOUNT,
        };
        format!("system:serviceaccount:*:{sa}")
    }
}

/// One audited request (the last stage the log holds of it).
struct Request {
    user: String,
    role: Role,
    verb: String,
    uri: String,
    /// What it asked for; `None` for a non-resource request (`/version`, ...).
    grant: Option<Grant>,
    code: i64,
    decision: String,
    reason: String,
}

impl Request {
    fn parse(ev: &Value) -> Option<Request> {
        let user = ev["user"]["username"].as_str()?.to_string();
        let role = Role::of(&user)?;
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let verb = s(&ev["verb"]);
        let grant = ev.get("objectRef").filter(|o| o.get("resource").is_some()).map(|o| {
            let mut resource = s(&o["resource"]);
            if let Some(sub) = o["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            let name = o["name"].as_str().filter(|n| !n.is_empty()).map(String::from);
            Grant { group: s(&o["apiGroup"]), resource, verb: verb.clone(), name }
        });
        let annotations = &ev["annotations"];
        Some(Request {
            user,
            role,
            uri: s(&ev["requestURI"]),
            verb,
            grant,
            code: ev["responseStatus"]["code"].as_i64().unwrap_or_default(),
            decision: s(&annotations["authorization.k8s.io/decision"]),
            reason: s(&annotations["authorization.k8s.io/reason"]),
        })
    }

    fn denied(&self) -> bool {
        self.decision == "forbid" || self.code == 403
    }

    /// What the request needed: its own verb, and what the API server
    /// authorizes inside it without a request of its own:
    /// - a server-side apply that creates (201) needs `create` of that name;
    /// - with OwnerReferencesPermissionEnforcement (on in hack/cluster.sh, as
    ///   on OpenShift), creating an object that carries an ownerReference
    ///   with blockOwnerDeletion needs `update` of the owner's `finalizers`:
    ///   the operator's installed objects are owned by TektonChain `chain`,
    ///   which is owned by TektonConfig `config`.
    fn needs(&self, owned: &[(String, String)]) -> Vec<Grant> {
        let Some(g) = &self.grant else { return Vec::new() };
        let mut out = vec![g.clone()];
        if g.verb == "patch" && self.code == 201 {
            out.push(Grant { verb: "create".into(), ..g.clone() });
            if self.role == Role::Operator {
                let finalizers = |resource: &str, name: &str| Grant {
                    group: "operator.tekton.dev".into(),
                    resource: resource.into(),
                    verb: "update".into(),
                    name: Some(name.into()),
                };
                if owned.iter().any(|(group, res)| *group == g.group && *res == g.resource) {
                    out.push(finalizers("tektonchains/finalizers", "chain"));
                }
                if g.group == "operator.tekton.dev" && g.resource == "tektonchains" {
                    out.push(finalizers("tektonconfigs/finalizers", "config"));
                }
            }
        }
        out
    }
}

/// The audit log files: TEST_AUDIT_LOG and any rotated backups beside it.
fn audit_files(log: &std::path::Path) -> Vec<PathBuf> {
    let mut files = vec![log.to_path_buf()];
    let stem = log.file_stem().and_then(|s| s.to_str()).unwrap_or("audit").to_string();
    if let Ok(dir) = std::fs::read_dir(log.parent().unwrap_or(std::path::Path::new("."))) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{stem}-")) && name.ends_with(".log") {
                files.push(e.path());
            }
        }
    }
    files
}

/// The requests of the checked identities, one per auditID.
fn read_requests(log: &std::path::Path) -> Vec<Request> {
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for file in audit_files(log) {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(ev) = serde_json::from_str::<Value>(line) else { continue };
            let id = ev["auditID"].as_str().unwrap_or_default().to_string();
            // ResponseStarted (watches) and then ResponseComplete: keep the last.
            let complete = ev["stage"] == "ResponseComplete";
            if complete || !by_id.contains_key(&id) {
                by_id.insert(id, ev);
            }
        }
    }
    by_id.values().filter_map(Request::parse).collect()
}

#[test]
#[ignore = "run by hack/test-integration.sh after the whole suite, with TEST_AUDIT_LOG"]
fn the_suite_used_every_granted_rule_and_was_denied_nothing() {
    let Some(log) = std::env::var_os("TEST_AUDIT_LOG").map(PathBuf::from) else {
        println!(
            "rbac_audit: skipped: TEST_AUDIT_LOG is not set (hack/test-integration.sh sets it when it starts the \
             cluster; an external TEST_KUBECONFIG cluster's audit log is not ours to read)"
        );
        return;
    };
    let requests = read_requests(&log);
    let owned = owned_resources();

    // Who made how many requests.
    let mut users: BTreeMap<(Role, String), usize> = BTreeMap::new();
    for r in &requests {
        *users.entry((r.role, r.user.clone())).or_default() += 1;
    }
    println!("\n{} audited requests of the checked identities in {}", requests.len(), log.display());
    for role in [Role::Operator, Role::Signer] {
        let mine: Vec<_> = users.iter().filter(|((r, _), _)| *r == role).collect();
        let n: usize = mine.iter().map(|(_, n)| **n).sum();
        println!("  {}: {} ServiceAccounts, {n} requests", role.pattern(), mine.len());
        assert!(n > 0, "no request of {} in the audit log: did the suite run against this cluster?", role.pattern());
    }

    // (a) Nothing denied.
    let denied: Vec<String> = requests
        .iter()
        .filter(|r| r.denied())
        .map(|r| format!("  {} {} {} -> {} {} {}", r.user, r.verb, r.uri, r.code, r.decision, r.reason))
        .collect();

    // (b) Every held rule used.
    let (signer_cluster, signer_ns) = signer_rules();
    let mut signer_grants = grants(&signer_cluster);
    signer_grants.extend(grants(&signer_ns));
    let operator_grants = grants(&operator_rules());
    let hits = |role: Role, g: &Grant| {
        requests
            .iter()
            .filter(|r| r.role == role && !r.denied())
            .filter(|r| r.needs(&owned).iter().any(|n| g.covers(n)))
            .count()
    };
    let signer_hits: Vec<(Grant, usize)> = signer_grants.iter().map(|g| (g.clone(), hits(Role::Signer, g))).collect();
    // Operator rules that cover a signer rule are needed to grant it: they
    // count the signer's uses of what they cover.
    let operator_hits: Vec<(Grant, usize, Option<usize>)> = operator_grants
        .iter()
        .map(|g| {
            let covered: Vec<&(Grant, usize)> = signer_hits.iter().filter(|(s, _)| g.covers(s)).collect();
            let granted = (!covered.is_empty()).then(|| covered.iter().map(|(_, n)| n).sum());
            (g.clone(), hits(Role::Operator, g), granted)
        })
        .collect();

    // (c) The table.
    let w = operator_grants.iter().chain(&signer_grants).map(|g| g.describe().len()).max().unwrap_or(10);
    println!("\n{:<44} {:<w$} {:>6}  {:>16}", "identity", "rule", "hits", "granted, by signers");
    let mut unused = Vec::new();
    for (g, n, granted) in &operator_hits {
        let via = granted.map_or(String::new(), |v| v.to_string());
        println!("{:<44} {:<w$} {n:>6}  {via:>16}", Role::Operator.pattern(), g.describe());
        if *n == 0 && granted.unwrap_or(0) == 0 {
            unused.push(format!("  {} {}", Role::Operator.pattern(), g.describe()));
        }
    }
    for (g, n) in &signer_hits {
        println!("{:<44} {:<w$} {n:>6}", Role::Signer.pattern(), g.describe());
        if *n == 0 {
            unused.push(format!("  {} {}", Role::Signer.pattern(), g.describe()));
        }
    }

    // Allowed requests no held rule covers (the API server's default roles
    // for every authenticated user): shown, not failed.
    let held = |r: &Request| {
        let rules = if r.role == Role::Operator { &operator_grants } else { &signer_grants };
        r.needs(&owned).first().is_some_and(|n| rules.iter().any(|g| g.covers(n)))
    };
    let other: BTreeSet<String> = requests
        .iter()
        .filter(|r| !r.denied() && !held(r))
        .map(|r| format!("  {} {} {}", r.role.pattern(), r.verb, r.uri))
        .collect();
    if !other.is_empty() {
        println!(
            "\nallowed by other roles than the checked ones:\n{}",
            other.into_iter().collect::<Vec<_>>().join("\n")
        );
    }

    let mut problems = Vec::new();
    if !denied.is_empty() {
        problems.push(format!("{} denied requests:\n{}", denied.len(), denied.join("\n")));
    }
    if !unused.is_empty() {
        problems.push(format!(
            "{} granted rules no request used (remove them, or add a test that uses them):\n{}",
            unused.len(),
            unused.join("\n")
        ));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
    println!("\nno request denied; every granted rule used");
}

/// `run` mode: the operator's loop and the signer's in one process, with the
/// operator's ServiceAccount (its ClusterRole holds all the signer needs),
/// reading chains-config and the Lease in the install namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_mode_installs_and_signs_with_the_operators_service_account() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let ns = unique_ns("runmode");
    let chains: Api<TektonChain> = env.cluster_api();
    let chain = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain", "metadata": { "name": "chain" },
                        "spec": { "targetNamespace": ns, "generateSigningSecret": true } });
    chains.patch("chain", &PatchParams::apply("tests").force(), &Patch::Apply(&chain)).await.unwrap();
    eventually("installed with a generated key", || async {
        let s = chains.get("chain").await.ok()?.status?;
        let ok = |t: &str| s.conditions.iter().any(|c| c.type_ == t && c.status == "True");
        (ok("Installed") && ok("SigningSecret")).then_some(())
    })
    .await;
    // signing-secrets as the kubelet would mount it.
    let secret: Secret = env.api(&ns).get("signing-secrets").await.unwrap();
    let keys = support::tmpdir("runmode-keys");
    for (k, v) in secret.data.unwrap_or_default() {
        std::fs::write(keys.join(k), v.0).unwrap();
    }
    let runs_ns = support::create_namespace(&env, "runmode-runs").await;
    let _signer = start_signer(env.operator.clone(), signer_options(&ns, &keys, vec![runs_ns.clone()])).await;
    let runs = runs_api(&env, &runs_ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": "r", "namespace": runs_ns },
                     "spec": { "taskRef": { "name": "t" } } });
    runs.create(&Default::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let status = support::runs::finished_status(json!([]));
    runs.patch_status("r", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    eventually("signed in run mode", || async {
        let a = runs.get("r").await.ok()?.metadata.annotations?;
        (a.get("chains.tekton.dev/signed").map(String::as_str) == Some("true")).then_some(())
    })
    .await;
}
