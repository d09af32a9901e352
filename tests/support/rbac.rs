//! The RBAC rules of each identity, read from where the install takes them:
//! the operator's from config/rbac/cluster_role.yaml, the signer's from what
//! the operator builds (`operator::desired::build`, i.e. the rules of
//! src/operator/desired/rbac.rs). No second copy of any rule lives in the tests.

use serde_json::{Value, json};
use tekton_chains_operator::crd::{TektonChain, TektonChainSpec};
use tekton_chains_operator::operator::desired::{self, BuildContext, Mode};
use tekton_chains_operator::operator::validate::ValidChain;

/// The operator's ClusterRole rules (config/rbac/cluster_role.yaml; the chart's
/// and the bundle's copies are tested equal to it).
pub fn operator_rules() -> Value {
    let role: Value = serde_yaml::from_str(include_str!("../../config/rbac/cluster_role.yaml")).unwrap();
    role["rules"].clone()
}

/// What the operator builds for an install (its objects in apply order).
fn install() -> Vec<desired::DesiredObject> {
    let mut chain = TektonChain::new("chain", TektonChainSpec { target_namespace: "ns".into(), ..Default::default() });
    chain.metadata.uid = Some("rbac".into());
    let valid = ValidChain { namespace: "ns".into(), config_data: Default::default() };
    desired::build(&chain, &valid, &BuildContext { image: "img".into(), version: "v0".into() })
}

/// (API group, resource) of the installed objects that carry the
/// TektonChain's ownerReference (with blockOwnerDeletion).
pub fn owned_resources() -> Vec<(String, String)> {
    install()
        .into_iter()
        .filter(|o| matches!(o.ownership, desired::Ownership::Owned { .. }))
        .map(|o| (o.resource.group, o.resource.plural))
        .collect()
}

/// The signer's rules as the operator installs them: (ClusterRole rules, Role rules).
pub fn signer_rules() -> (Value, Value) {
    let objects = install();
    let rules = |kind: &str| {
        let o = objects.iter().find(|o| o.resource.kind == kind).unwrap_or_else(|| panic!("no {kind} in the install"));
        match &o.mode {
            Mode::Apply(v) | Mode::ApplyWithSeed { apply: v, .. } | Mode::CreateOnly(v) => v["rules"].clone(),
            Mode::Absent => panic!("the {kind} is to be absent"),
        }
    };
    (rules("ClusterRole"), rules("Role"))
}

/// One permission: API group, resource (`res/sub` for a subresource), verb
/// and, when the rule names some, one resource name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub name: Option<String>,
}

impl Grant {
    /// True when this permission allows what `other` allows (the API
    /// server's rule for granting: the granter must cover every grant).
    pub fn covers(&self, other: &Grant) -> bool {
        self.group == other.group
            && self.resource == other.resource
            && self.verb == other.verb
            && match (&self.name, &other.name) {
                (None, _) => true,
                (Some(family), Some(name)) if family.ends_with(".*") => name.starts_with(&family[..family.len() - 1]),
                (mine, theirs) => mine == theirs,
            }
    }

    /// `verb group/resource[name]`, for tables.
    pub fn describe(&self) -> String {
        let group = if self.group.is_empty() { "core".to_string() } else { self.group.clone() };
        match &self.name {
            Some(n) => format!("{} {group}/{} [{n}]", self.verb, self.resource),
            None => format!("{} {group}/{}", self.verb, self.resource),
        }
    }
}

/// Every (group × resource × verb × resourceName) of a list of PolicyRules.
pub fn grants(rules: &Value) -> Vec<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
    };
    let mut out = Vec::new();
    for rule in rules.as_array().expect("rules are a list") {
        // The bucket Leases (`tekton-chains-signer.BB-of-NN`, 54 names) count
        // as one family: a suite uses a few bucket counts, not all ten.
        let family =
            |n: String| if n.starts_with("tekton-chains-signer.") { "tekton-chains-signer.*".to_string() } else { n };
        let names: Vec<String> = strings(&rule["resourceNames"]).into_iter().map(family).collect();
        let names: Vec<Option<String>> =
            if names.is_empty() { vec![None] } else { names.into_iter().map(Some).collect() };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        let g = Grant {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                            name: name.clone(),
                        };
                        if !out.contains(&g) {
                            out.push(g);
                        }
                    }
                }
            }
        }
    }
    out
}

/// A ClusterRole or Role object with `rules`.
pub fn role(kind: &str, name: &str, ns: Option<&str>, rules: Value) -> Value {
    let mut metadata = json!({ "name": name });
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata, "rules": rules })
}
