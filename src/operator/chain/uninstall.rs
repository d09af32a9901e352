//! Removing an install: on deletion of the TektonChain, when it is
//! disabled, and from the old namespace when targetNamespace changes.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::info;

use crate::crd::TektonChain;
use crate::operator::context::Context;
use crate::operator::desired::{self, Mode, Ownership};
use crate::operator::error::Result;
use crate::operator::signing_secret;
use crate::operator::validate::ValidChain;

/// The finalizer's cleanup: removes the install before the TektonChain goes.
pub async fn cleanup(chain: &TektonChain, ctx: &Context) -> Result<Action> {
    let ns = installed_namespace(chain).unwrap_or_else(|| chain.spec.target_namespace.clone());
    uninstall(chain, ctx, &ns, true).await?;
    let msg = disabled_message(ctx, &ns).await?;
    info!(tektonchain = %chain.name_any(), namespace = %ns, "{msg}");
    Ok(Action::await_change())
}

/// Deletes what this TektonChain installed in `ns` (cluster-scoped objects
/// too when `everything`). The Namespace and signing-secrets are kept.
pub async fn uninstall(chain: &TektonChain, ctx: &Context, ns: &str, everything: bool) -> Result<()> {
    let uid = chain.uid().unwrap_or_default();
    let valid = ValidChain { namespace: ns.to_string(), config_data: Default::default() };
    let objects = desired::build(chain, &valid, &ctx.build);
    // Moving (not everything): only what is in the old namespace; the scoped
    // Roles elsewhere were just re-applied for the new one.
    for obj in objects.iter().rev().filter(|o| everything || o.namespace.as_deref() == Some(ns)) {
        let deleted = match (&obj.ownership, &obj.mode) {
            (Ownership::Owned { .. }, _) => ctx.applier.delete_owned(obj, &uid).await?,
            (Ownership::Shared, Mode::ApplyWithSeed { seed, .. }) => ctx.applier.release(obj, Some(seed)).await?,
            (Ownership::Shared, _) => ctx.applier.release(obj, None).await?,
            (Ownership::Kept, _) => false,
        };
        if deleted {
            info!(object = %obj.describe(), "deleted");
        }
    }
    if everything {
        super::scope::sweep(chain, ctx, &[]).await?;
    }
    Ok(())
}

/// "Tekton Chains is not installed", and whether the signing key in `ns` was kept.
pub async fn disabled_message(ctx: &Context, ns: &str) -> Result<String> {
    let kept = signing_secret::kept_message(&ctx.applier, ns).await?;
    Ok(match kept {
        Some(k) => format!("Tekton Chains is not installed; {k}"),
        None => "Tekton Chains is not installed".to_string(),
    })
}

/// The namespace the status says the install is in.
pub fn installed_namespace(chain: &TektonChain) -> Option<String> {
    chain.status.as_ref().and_then(|s| s.installed_namespace.clone())
}
