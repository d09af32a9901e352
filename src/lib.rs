//! Tekton Chains, as a Kubernetes operator and signing controller in one binary.
//!
//! - [`operator`]: TektonConfig → TektonChain → a Chains install.
//! - [`signer`]: finished TaskRuns/PipelineRuns → payload → signature → storage.
//! - [`config`]: `chains-config` parsing and validation, shared by both.
//! - [`crd`]: the custom resources and their CRDs.

pub mod config;
pub mod crd;
pub mod formats;
pub mod operator;
pub mod signer;
pub mod signing;
pub mod telemetry;
