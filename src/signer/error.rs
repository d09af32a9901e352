//! The signer's error type: every way signing a run can fail, with its
//! context (run, artifact, backend, key file), whether a retry can help,
//! and a metric label.

use crate::config::Artifact;
use crate::remote::RemoteError;
use crate::signing::SignError;

/// Why a run (or the signer) could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config asks for something this release does not have. Retrying
    /// cannot help until the config changes.
    #[error("{what} {value:?} ({key}) is not supported yet; supported: {supported}")]
    Unsupported { what: &'static str, key: String, value: String, supported: String },
    /// The signer could not sign (no usable key, or a remote signer failed).
    #[error("signing the {artifact} payload: {source}")]
    Sign {
        artifact: Artifact,
        #[source]
        source: SignError,
    },
    /// A storage backend refused the artifact.
    #[error("storing {artifact} {subject} in {backend} storage: {source}")]
    Storage {
        artifact: Artifact,
        /// The stored thing: `taskrun-<uid>` or an image reference.
        subject: String,
        /// The backend's registry name.
        backend: &'static str,
        #[source]
        source: RemoteError,
    },
    /// The transparency log refused the entry.
    #[error("uploading {artifact} {subject} to the transparency log: {source}")]
    Transparency {
        artifact: Artifact,
        subject: String,
        #[source]
        source: RemoteError,
    },
    /// An API call about a run failed.
    #[error("{action} {run}: {source}")]
    Kube {
        action: &'static str,
        /// `Kind namespace/name`.
        run: String,
        #[source]
        source: kube::Error,
    },
    /// Signing one run took longer than its deadline (`--job-deadline`).
    #[error("signing {run} took longer than {secs}s; stopped")]
    Deadline { run: String, secs: u64 },
    /// A bug: signing this run panicked. The worker goes on; the run ends
    /// `signed=failed`.
    #[error("internal error while signing {run}: {message}")]
    Internal { run: String, message: String },
    /// The run kept changing under every patch.
    #[error("{run} changed under {conflicts} patches in a row")]
    Changing { run: String, conflicts: u32 },
    /// A run names more images than one run may have signed.
    #[error("{run} names {count} images; at most {max} are signed per run")]
    TooManyImages { run: String, count: usize, max: usize },
    /// The signer cannot go on (a watch stopped, workers keep dying).
    #[error("the signer stopped: {reason}")]
    Broken { reason: String },
    /// Leader election cannot start: its ConfigMap is unreadable or bad.
    #[error("leader election ({namespace}/{name}): {message}")]
    Lease { namespace: String, name: String, message: String },
}

impl Error {
    /// Whether trying the same run again later can help.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Unsupported { .. } => false,
            Self::Sign { source, .. } => source.retryable(),
            Self::Storage { source, .. } => source.retryable,
            Self::Transparency { source, .. } => source.retryable,
            // A request the API server refuses as invalid (too large, malformed) fails the same way again.
            Self::Kube { source: kube::Error::Api(e), .. } => !matches!(e.code, 400 | 413 | 422),
            Self::Kube { .. }
            | Self::Lease { .. }
            | Self::Deadline { .. }
            | Self::Changing { .. }
            | Self::Broken { .. } => true,
            Self::Internal { .. } | Self::TooManyImages { .. } => false,
        }
    }

    /// Whether the failure is a remote being down or overloaded (connection
    /// refused, 5xx, 429): such failures are retried for longer.
    pub fn unavailable(&self) -> bool {
        match self {
            Self::Sign { source, .. } => source.unavailable(),
            Self::Storage { source, .. } => source.unavailable,
            Self::Transparency { source, .. } => source.unavailable,
            Self::Kube { source: kube::Error::Api(e), .. } => e.code >= 500 || e.code == 429,
            Self::Kube { .. } => true,
            _ => false,
        }
    }

    /// Short label for the `reason` of `signing_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => "unsupported",
            Self::Sign { source, .. } => source.metric_label(),
            Self::Storage { .. } => "storage",
            Self::Transparency { .. } => "transparency",
            Self::Kube { .. } => "kube",
            Self::Lease { .. } => "lease",
            Self::Broken { .. } => "broken",
            Self::Deadline { .. } => "deadline",
            Self::Changing { .. } => "conflict",
            Self::Internal { .. } => "internal",
            Self::TooManyImages { .. } => "too_many_images",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_is_permanent_and_a_missing_key_is_not() {
        let e = Error::Unsupported {
            what: "storage backend",
            key: "artifacts.oci.storage".into(),
            value: "oci".into(),
            supported: "\"tekton\"".into(),
        };
        assert!(!e.retryable());
        assert_eq!(e.metric_label(), "unsupported");
        assert_eq!(
            e.to_string(),
            r#"storage backend "oci" (artifacts.oci.storage) is not supported yet; supported: "tekton""#
        );
        let missing = crate::signing::KeyError::Missing { dir: "/k".into(), looked_for: "x509.pem".into() };
        let e = Error::Sign { artifact: Artifact::TaskRun, source: missing.into() };
        assert!(e.retryable());
        assert_eq!(e.metric_label(), "key_missing");
        assert_eq!(e.to_string(), "signing the taskrun payload: no signing key in /k: looked for x509.pem");
    }
}
