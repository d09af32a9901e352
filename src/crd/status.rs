//! Status shared by TektonChain and TektonConfig: conditions, observedGeneration, version.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::words::words;

/// Status of an operator-managed component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// `Ready` and the conditions it is made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Version of the installed Chains controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Namespace the objects are installed in (used to move them when it changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_namespace: Option<String>,
}

words! {
    /// Condition types of TektonChain and TektonConfig.
    pub enum ConditionType {
        /// Both kinds: the summary.
        Ready = "Ready",
        /// TektonChain: the spec passed validation.
        ConfigValid = "ConfigValid",
        /// TektonChain: every object of the install is applied.
        Installed = "Installed",
        /// TektonChain: the controller Deployment is available.
        DeploymentAvailable = "DeploymentAvailable",
        /// TektonChain: whether signing-secrets holds a key (informational).
        SigningSecret = "SigningSecret",
        /// TektonConfig: the TektonChain's Ready.
        ChainReady = "ChainReady",
    }
}

words! {
    /// Reasons of the conditions the operator sets.
    pub enum Reason {
        /// The object is not named `chain` / `config`.
        InvalidName = "InvalidName",
        /// A spec field has a bad value; nothing is applied.
        InvalidValue = "InvalidValue",
        /// The spec is valid.
        Valid = "Valid",
        /// Chains is disabled and not installed.
        Disabled = "Disabled",
        /// An object of the install's name exists that the operator did not create.
        NotOwned = "NotOwned",
        /// Writing an object of the install failed.
        ApplyFailed = "ApplyFailed",
        /// Every object is applied.
        Applied = "Applied",
        /// The Deployment is available.
        Available = "Available",
        /// The Deployment is not (yet) available.
        NotAvailable = "NotAvailable",
        /// Ready because the Deployment is not available.
        DeploymentNotAvailable = "DeploymentNotAvailable",
        /// Everything is installed and available.
        Ready = "Ready",
        /// signing-secrets holds a key.
        KeyPresent = "KeyPresent",
        /// signing-secrets holds no key and none is to be generated.
        NoKey = "NoKey",
        /// signing-secrets holds some generated files but no key.
        PartialKey = "PartialKey",
        /// A key pair was generated into signing-secrets.
        Generated = "Generated",
        /// TektonConfig: waiting for the TektonChain to be reconciled.
        Reconciling = "Reconciling",
    }
}

/// A condition to set, before timestamps are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    pub type_: ConditionType,
    pub status: bool,
    /// A [`Reason`]'s word, or a reason mirrored from another object's status.
    pub reason: String,
    pub message: String,
}

impl ConditionUpdate {
    /// A condition with one of the operator's reasons.
    pub fn new(type_: ConditionType, status: bool, reason: Reason, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.as_str().into(), message: message.into() }
    }

    /// A condition whose reason is copied, as written, from another object's condition.
    pub fn mirror(type_: ConditionType, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.into(), message: message.into() }
    }

    /// The same status, reason and message under another type.
    pub fn retyped(&self, type_: ConditionType) -> Self {
        Self { type_, ..self.clone() }
    }
}

impl ComponentStatus {
    /// Returns the condition of this type, if any.
    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_.as_str())
    }

    /// Whether `Ready` is True.
    pub fn is_ready(&self) -> bool {
        self.condition(ConditionType::Ready).is_some_and(|c| c.status == "True")
    }

    /// Sets conditions, keeping lastTransitionTime when a status does not change,
    /// so an unchanged state yields an identical status (no write).
    pub fn set_conditions(&mut self, updates: Vec<ConditionUpdate>, generation: Option<i64>, now: &Time) {
        let mut next = Vec::with_capacity(updates.len());
        for u in updates {
            let status = if u.status { "True" } else { "False" }.to_string();
            let since = match self.condition(u.type_) {
                Some(old) if old.status == status => old.last_transition_time.clone(),
                _ => now.clone(),
            };
            next.push(Condition {
                type_: u.type_.as_str().to_string(),
                status,
                reason: u.reason,
                message: u.message,
                observed_generation: generation,
                last_transition_time: since,
            });
        }
        self.conditions = next;
        self.observed_generation = generation;
    }
}
