//! Payload formats: a finished run → the bytes to sign.
//!
//! Pure functions over the run's JSON; no API calls.

pub mod artifacts;
pub mod materials;
pub mod run;
pub mod simplesigning;
pub mod slsa02;
pub mod slsa1;
mod statement;

pub use artifacts::{Artifacts, Image, ResultWarning, Subject, detect};
pub use run::{Run, RunKind};

/// `tekton` format: the run's status, as JSON.
pub fn tekton(run: &Run) -> Vec<u8> {
    serde_json::to_vec(run.status()).expect("JSON value serializes")
}
