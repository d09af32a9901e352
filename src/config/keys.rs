//! The `chains-config` keys: their names, what values they take and their defaults.

/// What values a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of storage backends; empty disables storage.
    StorageList,
    /// A boolean, as Go's `strconv.ParseBool` reads it.
    Bool,
    /// `true`, `false` or `manual` (transparency.enabled).
    BoolOrManual,
    /// An absolute http(s) URL, or empty.
    Url,
    /// A KMS reference with one of these scheme prefixes, or empty.
    KmsRef(&'static [&'static str]),
    /// Free text.
    Text,
    /// Free text that must never be echoed (tokens).
    Secret,
}

/// One `chains-config` key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub key: &'static str,
    pub kind: ValueKind,
    pub default: &'static str,
}

use super::values::{Format, ImageFormat, LogEntryKind, SignerKind, StorageKind};

/// Formats for TaskRun and PipelineRun payloads.
pub const RUN_FORMATS: &[&str] = Format::WORDS;
/// Storage backends.
pub const STORAGES: &[&str] = StorageKind::WORDS;
/// Signers.
pub const SIGNERS: &[&str] = SignerKind::WORDS;
/// Values Go's `strconv.ParseBool` accepts, upstream Chains' parser.
pub const TRUE_WORDS: &[&str] = &["1", "t", "T", "TRUE", "true", "True"];
pub const FALSE_WORDS: &[&str] = &["0", "f", "F", "FALSE", "false", "False"];

const fn key(key: &'static str, kind: ValueKind, default: &'static str) -> KeySpec {
    KeySpec { key, kind, default }
}

use ValueKind::*;

/// Every key Chains reads, in the order of the reference table.
pub const KEYS: &[KeySpec] = &[
    key("artifacts.taskrun.format", OneOf(RUN_FORMATS), "in-toto"),
    key("artifacts.taskrun.storage", StorageList, "tekton"),
    key("artifacts.taskrun.signer", OneOf(SIGNERS), "x509"),
    key("artifacts.pipelinerun.format", OneOf(RUN_FORMATS), "in-toto"),
    key("artifacts.pipelinerun.storage", StorageList, "tekton"),
    key("artifacts.pipelinerun.signer", OneOf(SIGNERS), "x509"),
    key("artifacts.pipelinerun.enable-deep-inspection", Bool, "false"),
    key("artifacts.oci.format", OneOf(ImageFormat::WORDS), "simplesigning"),
    key("artifacts.oci.storage", StorageList, "oci"),
    key("artifacts.oci.signer", OneOf(SIGNERS), "x509"),
    key("storage.gcs.bucket", Text, ""),
    key("storage.oci.repository", Text, ""),
    key("storage.oci.repository.insecure", Bool, "false"),
    key("storage.oci.encoding-format", OneOf(&["dsse", "sigstore-bundle"]), "dsse"),
    key("storage.docdb.url", Text, ""),
    key("storage.docdb.mongo-server-url", Secret, ""),
    key("storage.docdb.mongo-server-url-dir", Text, ""),
    key("storage.docdb.mongo-server-url-path", Text, ""),
    key("storage.grafeas.projectid", Text, ""),
    key("storage.grafeas.noteid", Text, ""),
    key("storage.grafeas.notehint", Text, ""),
    key("transparency.enabled", BoolOrManual, "false"),
    key("transparency.url", Url, "https://rekor.sigstore.dev"),
    key("transparency.entry-kind", OneOf(LogEntryKind::WORDS), "intoto"),
    key("signers.x509.fulcio.enabled", Bool, "false"),
    key("signers.x509.fulcio.address", Url, "https://fulcio.sigstore.dev"),
    key("signers.x509.fulcio.issuer", Url, "https://oauth2.sigstore.dev/auth"),
    key("signers.x509.fulcio.provider", OneOf(&["", "google", "spiffe", "github", "filesystem"]), ""),
    key("signers.x509.identity.token.file", Text, ""),
    key("signers.x509.tuf.mirror.url", Url, ""),
    key("signers.verify-before-skip", Bool, "false"),
    key("signers.kms.kmsref", KmsRef(&["gcpkms://", "awskms://", "azurekms://", "hashivault://"]), ""),
    key("signers.kms.auth.address", Text, ""),
    key("signers.kms.auth.token", Secret, ""),
    key("signers.kms.auth.token-path", Text, ""),
    key("signers.kms.auth.oidc.path", Text, ""),
    key("signers.kms.auth.oidc.role", Text, ""),
    key("signers.kms.auth.spire.sock", Text, ""),
    key("signers.kms.auth.spire.audience", Text, ""),
    key("builder.id", Text, "https://tekton.dev/chains/v2"),
    key(
        "builddefinition.buildtype",
        OneOf(&["https://tekton.dev/chains/v2/slsa", "https://tekton.dev/chains/v2/slsa-tekton"]),
        "https://tekton.dev/chains/v2/slsa",
    ),
];

/// Looks up a key's spec by name.
pub fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.key == name)
}

/// Keys whose values are secrets and never appear in messages.
pub fn is_sensitive(name: &str) -> bool {
    matches!(spec(name), Some(KeySpec { kind: Secret, .. }))
}
