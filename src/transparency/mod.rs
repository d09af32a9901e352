//! The `TransparencyLog` seam: uploads a signed artifact to a transparency
//! log and returns its entry. Each log kind is one module with a factory, listed
//! once in [`LOGS`]; [`rekor::Rekor`] (Rekor v1) is the one built.

pub mod entry;
pub mod rekor;

use crate::config::LogConfig;
use crate::remote::RemoteError;
use crate::seam::{Maker, Registry};
pub use crate::signing::LogEntry;
use crate::signing::Signed;

/// Uploads signed artifacts to a transparency log.
#[async_trait::async_trait]
pub trait TransparencyLog: Send + Sync {
    /// Adds an entry for `signed` (or finds the one it already has).
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, RemoteError>;
}

/// The transparency logs' registry.
pub type Logs = Registry<LogConfig, dyn TransparencyLog>;

/// Every transparency log this release has: one line each.
pub const LOGS: &[Maker<LogConfig, dyn TransparencyLog>] = &[rekor::factory];
