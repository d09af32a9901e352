//! The `TransparencyLog` seam: uploads a signed artifact to a transparency
//! log and returns its entry. [`rekor::Rekor`] (Rekor v1) is the one built.

pub mod entry;
pub mod rekor;

use crate::signing::Signed;

/// An entry in a transparency log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's index in the log.
    pub log_index: u64,
    /// The entry's UUID.
    pub uuid: String,
    /// `<log url>/api/v1/log/entries?logIndex=<n>`, the run's annotation value.
    pub url: String,
    /// The cosign bundle (`dev.sigstore.cosign/bundle`), once the entry's
    /// SignedEntryTimestamp was checked.
    pub bundle: Option<String>,
}

/// A log that could not take an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {message}")]
pub struct TransparencyError {
    /// The log's URL.
    pub url: String,
    pub message: String,
    /// The log's HTTP status, when there was one.
    pub status: Option<u16>,
    /// Whether trying again later can help.
    pub retryable: bool,
    /// The log could not be reached, or answered 5xx/408/429: it may just
    /// be down for a while (retried for longer than other failures).
    pub unavailable: bool,
}

/// Uploads signed artifacts to a transparency log.
#[async_trait::async_trait]
pub trait TransparencyLog: Send + Sync {
    /// Adds an entry for `signed` (or finds the one it already has).
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, TransparencyError>;
}
