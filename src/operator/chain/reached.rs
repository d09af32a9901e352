//! How far a TektonChain reconcile got, and the status that follows from
//! it: pure, so every condition is tested without an API server.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;

use crate::config::ConfigErrors;
use crate::crd::{CHAIN_NAME, ConditionType, ConditionUpdate, Reason};
use crate::operator::error::{Error, Result};
use crate::operator::signing_secret::{self, SecretState};
use crate::operator::status::StatusUpdate;

/// How often a healthy install is re-checked for drift.
const RESYNC: Duration = Duration::from_secs(300);

/// Where a reconcile of the TektonChain stopped.
#[derive(Debug)]
pub enum Reached {
    /// Named other than `chain`: not reconciled.
    WrongName,
    /// The spec is invalid: nothing is applied, the last good install stays.
    Invalid(ConfigErrors),
    /// Chains is disabled and not installed; the message says what was kept.
    Disabled { message: String },
    /// Writing an object of the install failed (the reconcile fails with it).
    ApplyFailed(Error),
    /// Every object is applied.
    Installed(Install),
}

/// What a complete apply found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Where it is installed.
    pub namespace: String,
    /// How many objects the install has.
    pub objects: usize,
    /// Whether the Deployment is available; the error says why not.
    pub deployment: Result<(), String>,
    /// What signing-secrets holds.
    pub secret: SecretState,
}

impl Reached {
    /// The status this outcome sets; `previous` is the install's namespace
    /// before it, which stays when nothing was (un)installed.
    pub fn status(&self, previous: Option<&str>) -> StatusUpdate {
        use ConditionType::*;
        let (conditions, installed_namespace) = match self {
            Reached::WrongName => {
                let msg = format!("Only one instance of TektonChain is allowed by name, {CHAIN_NAME}");
                (vec![ConditionUpdate::new(Ready, false, Reason::InvalidName, msg)], None)
            }
            Reached::Invalid(errors) => {
                let msg = errors.to_string();
                let valid = ConditionUpdate::new(ConfigValid, false, Reason::InvalidValue, msg);
                let ready = valid.retyped(Ready);
                (vec![valid, ready], previous.map(String::from))
            }
            Reached::Disabled { message } => {
                (vec![ConditionUpdate::new(Ready, true, Reason::Disabled, message.clone())], None)
            }
            Reached::ApplyFailed(e) => {
                let reason = if matches!(e, Error::NotOurs { .. }) { Reason::NotOwned } else { Reason::ApplyFailed };
                let installed = ConditionUpdate::new(Installed, false, reason, e.to_string());
                let ready = installed.retyped(Ready);
                (vec![config_valid(), installed, ready], previous.map(String::from))
            }
            Reached::Installed(i) => (install_conditions(i), Some(i.namespace.clone())),
        };
        StatusUpdate { conditions, installed_namespace }
    }

    /// What the controller does next: a failed apply is the reconcile's
    /// error; an install is re-checked after [`RESYNC`]; the rest wait for a change.
    pub fn action(self) -> Result<Action> {
        match self {
            Reached::WrongName | Reached::Invalid(_) | Reached::Disabled { .. } => Ok(Action::await_change()),
            Reached::ApplyFailed(e) => Err(e),
            Reached::Installed(_) => Ok(Action::requeue(RESYNC)),
        }
    }
}

fn config_valid() -> ConditionUpdate {
    ConditionUpdate::new(ConditionType::ConfigValid, true, Reason::Valid, "")
}

fn install_conditions(i: &Install) -> Vec<ConditionUpdate> {
    use ConditionType::*;
    let applied = format!("{} objects in {}", i.objects, i.namespace);
    let (available, ready) = match &i.deployment {
        Ok(()) => (
            ConditionUpdate::new(DeploymentAvailable, true, Reason::Available, ""),
            ConditionUpdate::new(Ready, true, Reason::Ready, ""),
        ),
        Err(msg) => (
            ConditionUpdate::new(DeploymentAvailable, false, Reason::NotAvailable, msg.clone()),
            ConditionUpdate::new(Ready, false, Reason::DeploymentNotAvailable, msg.clone()),
        ),
    };
    vec![
        config_valid(),
        ConditionUpdate::new(Installed, true, Reason::Applied, applied),
        available,
        signing_secret::condition(&i.secret, &i.namespace),
        ready,
    ]
}

/// Ok when the Deployment reports Available (a StatefulSet: all its
/// replicas available and updated) for its current generation.
pub fn deployment_available(d: &DynamicObject) -> Result<(), String> {
    let status = &d.data["status"];
    let generation = d.metadata.generation.unwrap_or_default();
    let observed = status["observedGeneration"].as_i64().unwrap_or_default();
    let ready = status["availableReplicas"].as_i64().unwrap_or_default();
    let want = d.data["spec"]["replicas"].as_i64().unwrap_or(1);
    let kind = d.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("Deployment");
    let available = match kind {
        "StatefulSet" => ready >= want && status["updatedReplicas"].as_i64().unwrap_or_default() >= want,
        _ => status["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Available" && c["status"] == "True")),
    };
    if available && observed >= generation {
        Ok(())
    } else {
        Err(format!(
            "{kind} {}/{} has {ready}/{want} available replicas",
            d.namespace().unwrap_or_default(),
            d.name_any()
        ))
    }
}

#[cfg(test)]
mod tests;
