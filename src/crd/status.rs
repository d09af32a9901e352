//! Status shared by TektonChain and TektonConfig: conditions, observedGeneration, version.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// A condition to set, before timestamps are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl ConditionUpdate {
    pub fn new(type_: &'static str, status: bool, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.into(), message: message.into() }
    }
}

impl ComponentStatus {
    /// Returns the condition of this type, if any.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether `Ready` is True.
    pub fn is_ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == "True")
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
                type_: u.type_.to_string(),
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
