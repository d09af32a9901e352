//! The typed sections of a parsed `chains-config`: each storage backend,
//! signing identity and transparency log with its own settings. The seams
//! (`storage`, `signing`, `transparency`) build their parts from these.

use std::fmt;

use super::values::{LogEntryKind, OciEncoding, PubSubProvider, StorageKind};

/// Text that never appears in `Debug` output (tokens, URLs with passwords).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hidden(pub String);

impl Hidden {
    /// The value itself, for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "(hidden)" })
    }
}

/// One storage backend with its settings (`storage.<backend>.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Annotations on the run.
    Tekton,
    /// The image's registry, in cosign's layout.
    Oci {
        /// `storage.oci.repository`: where .sig and .att go instead (empty: next to the image).
        repository: String,
        insecure: bool,
        encoding: OciEncoding,
    },
    Gcs {
        bucket: String,
    },
    DocDb {
        url: String,
        /// `url` parsed, or why it does not parse.
        collection: Result<super::docdb::Collection, String>,
        mongo_server_url: Hidden,
        mongo_server_url_dir: String,
        mongo_server_url_path: String,
    },
    Grafeas {
        project_id: String,
        note_id: String,
        note_hint: String,
    },
    Kafka {
        provider: PubSubProvider,
        topic: String,
        bootstrap_servers: Vec<String>,
    },
    Archivista {
        url: String,
    },
}

impl Storage {
    /// Its `artifacts.*.storage` word.
    pub fn kind(&self) -> StorageKind {
        match self {
            Self::Tekton => StorageKind::Tekton,
            Self::Oci { .. } => StorageKind::Oci,
            Self::Gcs { .. } => StorageKind::Gcs,
            Self::DocDb { .. } => StorageKind::DocDb,
            Self::Grafeas { .. } => StorageKind::Grafeas,
            Self::Kafka { .. } => StorageKind::Kafka,
            Self::Archivista { .. } => StorageKind::Archivista,
        }
    }
}

/// How a KMS signer authenticates (`signers.kms.auth.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsAuth {
    pub address: String,
    pub token: Hidden,
    pub token_path: String,
    pub oidc_path: String,
    pub oidc_role: String,
    pub oidc_token_path: String,
    pub spire_sock: String,
    pub spire_audience: String,
}

/// Who signs: the local key folder, a KMS key, or Fulcio (keyless).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningIdentity {
    /// `x509.pem` or `cosign.key` in the signing-secrets folder.
    Keys,
    /// `signers.kms.kmsref` and its auth.
    Kms { kmsref: String, auth: KmsAuth },
    /// `signers.x509.fulcio.*`: a short-lived certificate for an OIDC identity.
    Keyless { fulcio: String, issuer: String, provider: String, token_file: String, tuf_mirror: String },
}

impl SigningIdentity {
    /// The word of this identity in messages and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Keys => "x509",
            Self::Kms { .. } => "kms",
            Self::Keyless { .. } => "keyless",
        }
    }
}

/// The transparency log (`transparency.url`, `transparency.entry-kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub url: String,
    pub entry_kind: LogEntryKind,
}

/// A deprecated name or value still accepted, to be reported once per config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// The key that holds the old name or value.
    pub key: &'static str,
    /// What to write instead.
    pub message: String,
}

impl fmt::Display for Deprecation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
