//! The chains-config keys as CR fields, with the same JSON names as the ConfigMap keys.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::BoolOrString;

/// The CR type of a key: `Text` is a string, `Flag` a boolean or its string.
macro_rules! cr_type {
    (Text) => {
        String
    };
    (Flag) => {
        BoolOrString
    };
}

/// Declares [`ChainConfigFields`] from the key table (`config::keys`).
macro_rules! cr_fields {
    ($($field:ident: $key:literal, $kind:expr, $default:literal, $cr:ident, $doc:literal;)*) => {
        /// Every `chains-config` key. A field left out leaves that ConfigMap key to
        /// whoever else sets it (a user's `kubectl patch`, or the signer's default).
        /// Its `Debug` hides secret values (tokens, Mongo URLs).
        #[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct ChainConfigFields {
            $(
                #[doc = $doc]
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<cr_type!($cr)>,
            )*
        }
    };
}

crate::config::keys::chains_keys!(cr_fields);

impl std::fmt::Debug for ChainConfigFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(crate::config::shown_map(&self.to_config_data())).finish()
    }
}

impl ChainConfigFields {
    /// The keys this CR sets, as chains-config data.
    pub fn to_config_data(&self) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self).expect("plain struct serializes");
        let serde_json::Value::Object(fields) = value else {
            return BTreeMap::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    }
}
