//! `chains-config`: parsing and validation, shared by the operator and the signer.
//!
//! Pure functions only: a string map in, a typed [`ChainsConfig`] or a list of
//! [`ConfigError`]s out. A bad value never yields a partial config.

pub mod docdb;
pub mod keys;
pub(crate) mod parsed;
pub(crate) mod reader;
mod required;
pub mod sections;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;

pub use keys::{KEYS, KeySpec, ValueKind};
pub use parsed::{ArtifactConfig, ChainsConfig, Transparency};
pub use sections::{Deprecation, Hidden, KmsAuth, LogConfig, SigningIdentity, Storage};
pub use values::{
    Artifact, BuildType, Format, ImageFormat, LogEntryKind, OciEncoding, PubSubProvider, SignerKind, StorageKind,
};

/// One rejected key: names the key, the bad value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub key: String,
    /// The rejected value; `None` for secret keys, whose values are never echoed.
    pub value: Option<String>,
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}: invalid value {v:?}; allowed: {}", self.key, self.allowed),
            None => write!(f, "{}: invalid value (hidden); allowed: {}", self.key, self.allowed),
        }
    }
}

/// All errors of one config, joined for conditions and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Reads a boolean the way upstream Chains does (Go's `strconv.ParseBool`).
pub fn parse_bool(value: &str) -> Option<bool> {
    if keys::TRUE_WORDS.contains(&value) {
        Some(true)
    } else if keys::FALSE_WORDS.contains(&value) {
        Some(false)
    } else {
        None
    }
}

/// Splits a storage list: comma-separated, blanks ignored.
pub fn storage_list(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Checks one value against its key's spec. Unknown keys are accepted
/// (upstream ignores them), so users' extra keys never break a config.
pub fn check_value(key: &str, value: &str) -> Result<(), ConfigError> {
    let Some(spec) = keys::spec(key) else {
        return Ok(());
    };
    let kind = match spec.kind {
        ValueKind::Alias(to) => keys::spec(to).map_or(ValueKind::Text, |s| s.kind),
        kind => kind,
    };
    check(key, kind, value)
}

/// Checks `value` of `key` against `kind`.
fn check(key: &str, kind: ValueKind, value: &str) -> Result<(), ConfigError> {
    let err = |allowed: String| ConfigError { key: key.to_string(), value: shown(key, value), allowed };
    match kind {
        ValueKind::OneOf(words) => {
            let deprecated = keys::DEPRECATED_SIGNER_WORDS.iter().any(|(w, _)| *w == value) && words == keys::SIGNERS;
            if !words.contains(&value) && !deprecated {
                return Err(err(quoted_list(words)));
            }
        }
        ValueKind::StorageList => {
            if let Some(bad) = storage_list(value).into_iter().find(|s| !keys::STORAGES.contains(s)) {
                let mut e =
                    err(format!("a comma-separated list of {}, or \"\" to disable", quoted_list(keys::STORAGES)));
                e.value = Some(bad.to_string());
                return Err(e);
            }
        }
        ValueKind::Bool => {
            if parse_bool(value).is_none() {
                return Err(err("true, false".into()));
            }
        }
        ValueKind::BoolOrManual => {
            if value != "manual" && parse_bool(value).is_none() {
                return Err(err("true, false, manual".into()));
            }
        }
        ValueKind::Url => {
            let ok = value.is_empty()
                || url::Url::parse(value)
                    .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .unwrap_or(false);
            if !ok {
                return Err(err("an absolute http:// or https:// URL".into()));
            }
        }
        ValueKind::KmsRef(prefixes) => {
            if !value.is_empty() && !prefixes.iter().any(|p| value.starts_with(p)) {
                return Err(err(format!("a reference starting with {}", quoted_list(prefixes))));
            }
        }
        ValueKind::List | ValueKind::Text | ValueKind::Secret | ValueKind::Alias(_) => {}
    }
    Ok(())
}

/// How a value may appear in messages and logs: never for secret keys, and
/// without the `user:password@` part of a URL for the others.
pub fn shown(key: &str, value: &str) -> Option<String> {
    (!keys::is_sensitive(key)).then(|| crate::http::redact_userinfo(value))
}

/// A map of config values as they may be shown (secret values hidden).
pub fn shown_map(data: &BTreeMap<String, String>) -> BTreeMap<&str, String> {
    data.iter().map(|(k, v)| (k.as_str(), shown(k, v).unwrap_or_else(|| "(hidden)".into()))).collect()
}

/// Validates a whole map; every bad key is reported, not just the first.
pub fn validate(data: &BTreeMap<String, String>) -> Result<(), ConfigErrors> {
    ChainsConfig::parse(data).map(drop)
}

fn quoted_list(words: &[&str]) -> String {
    words.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
