//! `signers.verify-before-skip`: before a run marked `signed=true` is
//! skipped, what it carries is checked. Upstream trusts the mark, which
//! anyone who may edit the run can write. Here each payload the current
//! config would store in `tekton` storage must be on the run, be this run's
//! payload (recomputed), and carry a signature by the current key; if not,
//! the run is signed again. Payloads without `tekton` storage (only `oci`)
//! are not checked: their signatures live in registries.

use serde_json::Value;

use super::pipeline::Pipeline;
use crate::formats::{self, Run};
use crate::signing::verify::check_stored;
use crate::tekton::annotations::PREFIX;

/// Checks a run marked signed against the current config and key, given its
/// finished child TaskRuns (none for a TaskRun). The error says why the mark
/// is not backed by a good signature.
pub async fn check(pipeline: &Pipeline, run: &Run<'_>, children: &[Value]) -> Result<(), &'static str> {
    let artifacts = formats::detect(run);
    // A config that refuses this run cannot check it: the mark stands.
    let Ok(payloads) = pipeline.plan(run, &artifacts, children) else { return Ok(()) };
    for p in payloads {
        let Some(signer) = pipeline.tekton_signer(p.artifact) else { continue };
        let Ok(verifier) = signer.verifier().await else {
            return Err("no signing key to check it with");
        };
        let k = &p.key;
        let stored_payload = run.annotation(&format!("{PREFIX}payload-{k}"));
        let stored_sig = run.annotation(&format!("{PREFIX}signature-{k}"));
        check_stored(&verifier.public_key_pem, &p.bytes, p.dsse, stored_payload, stored_sig)?;
    }
    Ok(())
}
