//! A CR value that may be written as a JSON bool or a string (`true` or `"true"`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// `true`, `false`, or a string such as `"true"` or `"manual"`.
/// Validated by the config module, so a bad word gets a clear message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoolOrString {
    Bool(bool),
    String(String),
    /// Anything else (a number, a list): kept so the object still reads, then rejected by validation.
    Other(serde_json::Value),
}

impl BoolOrString {
    /// The value as chains-config stores it.
    pub fn as_config_value(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::String(s) => s.clone(),
            Self::Other(v) => v.to_string(),
        }
    }
}

impl JsonSchema for BoolOrString {
    fn schema_name() -> Cow<'static, str> {
        "BoolOrString".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Structural schemas cannot say "bool or string"; accept any scalar
        // and let the operator reject bad words with a clear condition.
        json_schema!({
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }
}
