//! Reads `chains-config` values once: each read checks the value against
//! its key's kind and returns it typed, or records the error (naming the
//! key, the value and what is allowed) and returns a fallback that is never
//! used, since a config with any error is refused as a whole.

use std::collections::BTreeMap;

use super::keys::{self, DEPRECATED_SIGNER_WORDS, KEYS, ValueKind};
use super::sections::Deprecation;
use super::values::{SignerKind, StorageKind};
use super::{ConfigError, check, parse_bool, storage_list};

/// A one-pass reader of a ConfigMap's data.
pub(super) struct Reader<'a> {
    data: &'a BTreeMap<String, String>,
    pub errors: Vec<ConfigError>,
    pub deprecations: Vec<Deprecation>,
    /// Keys read so far (a test checks that every key is read).
    pub read: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a BTreeMap<String, String>) -> Self {
        let mut deprecations = Vec::new();
        for spec in KEYS {
            if let (ValueKind::Alias(to), true) = (spec.kind, data.contains_key(spec.key)) {
                let message = format!("a deprecated name (Chains 1.10); use {to}");
                deprecations.push(Deprecation { key: spec.key, message });
            }
        }
        Self { data, errors: Vec::new(), deprecations, read: Vec::new() }
    }

    /// The value of `key` and the key it came from: the map's own, else a
    /// deprecated alias's, else the default.
    fn raw(&mut self, key: &'static str) -> (&'a str, &'static str) {
        self.read.push(key);
        if let Some(v) = self.data.get(key) {
            return (v.as_str(), key);
        }
        for spec in KEYS {
            if let (ValueKind::Alias(to), Some(v)) = (spec.kind, self.data.get(spec.key))
                && to == key
            {
                self.read.push(spec.key);
                return (v.as_str(), spec.key);
            }
        }
        (keys::spec(key).map_or("", |s| s.default), key)
    }

    /// The value of `key` if it is valid for its kind.
    fn checked(&mut self, key: &'static str) -> Option<&'a str> {
        let (value, from) = self.raw(key);
        let kind = keys::spec(key).map_or(ValueKind::Text, |s| s.kind);
        match check(from, kind, value) {
            Ok(()) => Some(value),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// A word-valued key, typed.
    pub fn word<T>(&mut self, key: &'static str, parse: fn(&str) -> Option<T>, fallback: T) -> T {
        self.checked(key).and_then(parse).unwrap_or(fallback)
    }

    /// A boolean key.
    pub fn flag(&mut self, key: &'static str) -> bool {
        self.checked(key).and_then(parse_bool).unwrap_or(false)
    }

    /// A text or URL key.
    pub fn text(&mut self, key: &'static str) -> String {
        self.checked(key).unwrap_or_default().to_string()
    }

    /// A comma-separated list.
    pub fn list(&mut self, key: &'static str) -> Vec<String> {
        storage_list(self.checked(key).unwrap_or_default()).into_iter().map(String::from).collect()
    }

    /// A storage list, in config order without repeats.
    pub fn storage(&mut self, key: &'static str) -> Vec<StorageKind> {
        let mut out: Vec<StorageKind> = Vec::new();
        for kind in storage_list(self.checked(key).unwrap_or_default()).into_iter().filter_map(StorageKind::parse) {
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        out
    }

    /// A signer key; Chains 1.10's `cosign` is read as `x509`, with a deprecation.
    pub fn signer(&mut self, key: &'static str) -> SignerKind {
        let (value, _) = self.raw(key);
        if let Some((old, new)) = DEPRECATED_SIGNER_WORDS.iter().find(|(w, _)| *w == value) {
            let message = format!("{old:?} is deprecated (Chains 1.10); use {:?}", new.as_str());
            self.deprecations.push(Deprecation { key, message });
            return *new;
        }
        self.word(key, SignerKind::parse, SignerKind::X509)
    }

    /// Records an error found across keys.
    pub fn error(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// Every error, in key-table order.
    pub fn finish(mut self) -> (Vec<ConfigError>, Vec<Deprecation>) {
        self.errors.sort_by_key(|e| keys::position(&e.key));
        self.errors.dedup();
        (self.errors, self.deprecations)
    }
}
