//! TektonChain → objects in targetNamespace: validate → build → apply, then
//! one status write describing how far that got.

mod install;
mod reached;
mod scope;
mod uninstall;

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Error as FinalizerError, Event as Finalizer, finalizer};

pub use reached::{Install, Reached};

use super::context::Context;
use super::error::{Error, Result};
use super::status::write_status;
use crate::crd::{CHAIN_NAME, TektonChain};

/// Finalizer that removes the install before the TektonChain goes away.
pub const FINALIZER: &str = "operator.tekton.dev/tektonchain";

/// Reconciles one TektonChain.
pub async fn reconcile(chain: Arc<TektonChain>, ctx: Arc<Context>) -> Result<Action> {
    if chain.name_any() != CHAIN_NAME {
        return finish(&ctx, &chain, Reached::WrongName).await;
    }
    let api: Api<TektonChain> = Api::all(ctx.applier.client().clone());
    finalizer(&api, FINALIZER, chain, |event| async {
        match event {
            Finalizer::Apply(chain) => {
                let reached = install::install(&chain, &ctx).await?;
                finish(&ctx, &chain, reached).await
            }
            Finalizer::Cleanup(chain) => uninstall::cleanup(&chain, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        other => Error::Finalizer { object: format!("TektonChain {CHAIN_NAME}"), message: other.to_string() },
    })
}

/// The one status write of a reconcile, then what the controller does next.
async fn finish(ctx: &Context, chain: &TektonChain, reached: Reached) -> Result<Action> {
    let previous = chain.status.as_ref().and_then(|s| s.installed_namespace.as_deref());
    write_status(ctx, chain, reached.status(previous)).await?;
    reached.action()
}
