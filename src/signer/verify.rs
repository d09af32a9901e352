//! `signers.verify-before-skip`: before a run marked `signed=true` is
//! skipped, what it carries is checked. Upstream trusts the mark, which
//! anyone who may edit the run can write. Here each payload the current
//! config would store in `tekton` storage must be on the run, be this run's
//! payload (recomputed), and carry a signature by the current key; if not,
//! the run is signed again. Payloads without `tekton` storage (only `oci`)
//! are not checked: their signatures live in registries.

use super::pipeline::Pipeline;
use super::worker::{Ctx, Outcome, children};
use crate::formats::{self, Run, RunKind};
use crate::signing::verify::check_stored;
use crate::tekton::annotations::PREFIX;

/// Why a mark was not confirmed.
pub enum Unverified {
    /// The mark is not backed by a good signature (the reason).
    Bad(&'static str),
    /// Not decidable yet (child runs); look again later.
    Wait(Outcome),
}

/// Checks a run marked signed against the current config and key.
pub async fn check(ctx: &Ctx, pipeline: &Pipeline, run: &Run<'_>) -> Result<(), Unverified> {
    let children = match run.kind {
        RunKind::PipelineRun => children(ctx, run).await.map_err(Unverified::Wait)?,
        RunKind::TaskRun => Vec::new(),
    };
    let artifacts = formats::detect(run);
    // A config that refuses this run cannot check it: the mark stands.
    let Ok(payloads) = pipeline.plan(run, &artifacts, &children) else { return Ok(()) };
    for p in payloads {
        let Some(signer) = pipeline.tekton_signer(p.artifact) else { continue };
        let Ok(verifier) = signer.verifier().await else {
            return Err(Unverified::Bad("no signing key to check it with"));
        };
        let k = &p.key;
        let stored_payload = run.annotation(&format!("{PREFIX}payload-{k}"));
        let stored_sig = run.annotation(&format!("{PREFIX}signature-{k}"));
        check_stored(&verifier.public_key_pem, &p.bytes, p.dsse, stored_payload, stored_sig)
            .map_err(Unverified::Bad)?;
    }
    Ok(())
}
