//! How far a TektonConfig reconcile got, and the status that follows from
//! it: pure, so every condition is tested without an API server.

use kube::Resource;

use crate::crd::{CONFIG_NAME, ConditionType, ConditionUpdate, Reason, TektonChain};
use crate::operator::status::StatusUpdate;

/// Where a reconcile of the TektonConfig stopped.
#[derive(Debug)]
pub enum Reached {
    /// Named other than `config`: not reconciled.
    WrongName,
    /// `chain.disabled`: the TektonChain is gone; `kept` says whether the key stayed.
    Disabled { kept: Option<String> },
    /// The TektonChain is applied; this is it as the API server returned it.
    Chain(Box<TektonChain>),
}

impl Reached {
    /// The status this outcome sets (a TektonConfig installs nothing itself).
    pub fn status(&self) -> StatusUpdate {
        let conditions = match self {
            Reached::WrongName => {
                let msg = format!("Only one instance of TektonConfig is allowed by name, {CONFIG_NAME}");
                vec![ConditionUpdate::new(ConditionType::Ready, false, Reason::InvalidName, msg)]
            }
            Reached::Disabled { kept } => {
                let msg = match kept {
                    Some(k) => format!("Tekton Chains is disabled; {k}"),
                    None => "Tekton Chains is disabled".into(),
                };
                with_ready(ConditionUpdate::new(ConditionType::ChainReady, true, Reason::Disabled, msg))
            }
            Reached::Chain(chain) => with_ready(chain_health(chain)),
        };
        StatusUpdate { conditions, installed_namespace: None }
    }
}

/// `ChainReady`, and `Ready` saying the same.
fn with_ready(chain_ready: ConditionUpdate) -> Vec<ConditionUpdate> {
    let ready = chain_ready.retyped(ConditionType::Ready);
    vec![chain_ready, ready]
}

/// TektonChain's Ready, as a TektonConfig condition (its reason copied as written).
fn chain_health(chain: &TektonChain) -> ConditionUpdate {
    let waiting = || {
        ConditionUpdate::new(
            ConditionType::ChainReady,
            false,
            Reason::Reconciling,
            "waiting for TektonChain chain to be reconciled",
        )
    };
    let status = chain.status.clone().unwrap_or_default();
    if status.observed_generation != chain.meta().generation {
        return waiting();
    }
    match status.condition(ConditionType::Ready) {
        Some(c) => {
            let message =
                if c.message.is_empty() { String::new() } else { format!("TektonChain chain: {}", c.message) };
            ConditionUpdate::mirror(ConditionType::ChainReady, c.status == "True", &c.reason, message)
        }
        None => waiting(),
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;
    use crate::crd::{ComponentStatus, TektonChainSpec};

    fn conditions(r: &Reached) -> Vec<(&'static str, bool, String, String)> {
        r.status().conditions.into_iter().map(|c| (c.type_.as_str(), c.status, c.reason, c.message)).collect()
    }

    fn chain(generation: i64, observed: Option<i64>, ready: Option<(bool, Reason, &str)>) -> Reached {
        let mut c = TektonChain::new("chain", TektonChainSpec::default());
        c.metadata = ObjectMeta { name: Some("chain".into()), generation: Some(generation), ..Default::default() };
        let mut status = ComponentStatus::default();
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let updates = ready.map(|(s, r, m)| ConditionUpdate::new(ConditionType::Ready, s, r, m)).into_iter().collect();
        status.set_conditions(updates, observed, &now);
        c.status = Some(status);
        Reached::Chain(Box::new(c))
    }

    fn pair(type_: &'static str, status: bool, reason: &str, message: &str) -> (&'static str, bool, String, String) {
        (type_, status, reason.into(), message.into())
    }

    #[test]
    fn wrong_name_and_disabled() {
        let msg = "Only one instance of TektonConfig is allowed by name, config";
        assert_eq!(conditions(&Reached::WrongName), [pair("Ready", false, "InvalidName", msg)]);
        let kept =
            Reached::Disabled { kept: Some("Secret ns/signing-secrets holds a signing key and was kept".into()) };
        let msg = "Tekton Chains is disabled; Secret ns/signing-secrets holds a signing key and was kept";
        assert_eq!(
            conditions(&kept),
            [pair("ChainReady", true, "Disabled", msg), pair("Ready", true, "Disabled", msg)]
        );
        let none = Reached::Disabled { kept: None };
        assert_eq!(conditions(&none)[1], pair("Ready", true, "Disabled", "Tekton Chains is disabled"));
        assert_eq!(Reached::WrongName.status().installed_namespace, None);
    }

    #[test]
    fn the_chains_ready_is_mirrored() {
        let msg = "Deployment ns/x has 0/1 available replicas";
        let r = chain(2, Some(2), Some((false, Reason::DeploymentNotAvailable, msg)));
        let want = format!("TektonChain chain: {msg}");
        assert_eq!(
            conditions(&r),
            [
                pair("ChainReady", false, "DeploymentNotAvailable", &want),
                pair("Ready", false, "DeploymentNotAvailable", &want)
            ]
        );
        let ready = chain(1, Some(1), Some((true, Reason::Ready, "")));
        assert_eq!(conditions(&ready)[1], pair("Ready", true, "Ready", ""));
    }

    #[test]
    fn an_unreconciled_chain_is_waited_for() {
        let msg = "waiting for TektonChain chain to be reconciled";
        for r in [chain(3, Some(2), Some((true, Reason::Ready, ""))), chain(1, Some(1), None)] {
            assert_eq!(conditions(&r)[0], pair("ChainReady", false, "Reconciling", msg));
            assert_eq!(conditions(&r)[1], pair("Ready", false, "Reconciling", msg));
        }
    }
}
