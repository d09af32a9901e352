//! Tekton Chains, as a Kubernetes operator and signing controller in one binary.
//!
//! - [`operator`]: TektonConfig → TektonChain → a Chains install.
//! - [`signer`]: finished TaskRuns/PipelineRuns → payload → signature → storage.
//! - [`config`]: `chains-config` parsing and validation, shared by both.
//! - [`crd`]: the custom resources and their CRDs.
//! - [`formats`]: payloads (tekton, in-toto/SLSA, simplesigning), pure.
//! - [`signing`]: the `Signer` seam, keys, DSSE, the `Signed` value.
//! - [`storage`]: the `Backend` seam (`tekton` annotations, …).
//! - [`transparency`]: the `TransparencyLog` seam and Rekor v1.
//! - [`tekton`]: Tekton and Chains names shared by both loops.

pub mod aws;
pub mod config;
pub mod crd;
pub mod formats;
pub mod http;
#[cfg(test)]
mod layers;
pub mod operator;
pub mod remote;
pub mod seam;
pub mod signer;
pub mod signing;
pub mod storage;
pub mod tekton;
pub mod telemetry;
pub mod transparency;
