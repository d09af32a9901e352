//! The operator loop: TektonConfig → TektonChain → a Chains install in targetNamespace.

pub mod apply;
pub mod chain;
mod context;
pub mod desired;
mod error;
pub mod metrics;
pub mod signing_secret;
pub mod startup;
mod status;
pub mod tektonconfig;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

pub use apply::Applier;
pub use context::{Context, Options, Startup, version};
pub use desired::BuildContext;
pub use error::{Error, Result, Step};
pub use metrics::OperatorMetrics;

use crate::crd::{TektonChain, TektonConfig};
use crate::tekton::objects::SIGNING_SECRET;

/// Runs both reconcilers until the process is asked to stop.
pub async fn run(client: Client, opts: Options) -> Result<()> {
    let ctx = Arc::new(Context::new(client.clone(), &opts));
    run_with(client, ctx).await
}

/// Runs the start-up steps, then both reconcilers, with a given context
/// (tests read its write counter). Returns early only when start-up refuses.
pub async fn run_with(client: Client, ctx: Arc<Context>) -> Result<()> {
    startup::prepare(&ctx).await?;
    let installed = watcher::Config::default().labels(desired::PART_OF_SELECTOR);
    // The admin's signing-secrets (any namespace, by name; metadata only, so
    // no key is cached here): a created or deleted one shows at once.
    let signing_secrets = watcher::Config::default().fields(&format!("metadata.name={SIGNING_SECRET}"));
    let chains = Controller::new(Api::<TektonChain>::all(client.clone()), watcher::Config::default())
        .watches(Api::<Deployment>::all(client.clone()), installed.clone(), owning_chain)
        .watches(Api::<StatefulSet>::all(client.clone()), installed.clone(), owning_chain)
        .watches(Api::<ConfigMap>::all(client.clone()), installed, owning_chain)
        .watches(Api::<PartialObjectMeta<Secret>>::all(client.clone()), signing_secrets, owning_chain)
        .shutdown_on_signal()
        .run(|o, c| counted(chain::reconcile(o, c.clone()), c, "TektonChain"), error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "TektonChain reconcile failed");
            }
        });
    let configs = Controller::new(Api::<TektonConfig>::all(client.clone()), watcher::Config::default())
        .owns(Api::<TektonChain>::all(client), watcher::Config::default())
        .shutdown_on_signal()
        .run(|o, c| counted(tektonconfig::reconcile(o, c.clone()), c, "TektonConfig"), error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "TektonConfig reconcile failed");
            }
        });
    info!("operator loop started");
    futures::join!(chains, configs);
    Ok(())
}

/// Maps an installed object to its TektonChain: its owner, or (for the
/// ConfigMaps, which carry none) the one TektonChain there may be. (`owns`
/// would look the cluster-scoped owner up in the child's namespace and
/// never find it.)
fn owning_chain<K: Resource>(obj: K) -> Option<ObjectRef<TektonChain>> {
    let owner = obj.owner_references().iter().find(|o| o.kind == "TektonChain" && o.controller == Some(true));
    Some(ObjectRef::new(owner.map_or(crate::crd::CHAIN_NAME, |o| o.name.as_str())))
}

/// Counts a finished reconcile, and a failed one by its error's label.
async fn counted(
    reconcile: impl Future<Output = Result<Action>>,
    ctx: Arc<Context>,
    kind: &'static str,
) -> Result<Action> {
    let res = reconcile.await;
    ctx.reconciles.fetch_add(1, Ordering::Relaxed);
    ctx.metrics.reconciles.get_or_create(&metrics::KindLabels { kind }).inc();
    if let Err(e) = &res {
        ctx.metrics.reconcile_errors.get_or_create(&metrics::ErrorLabels { kind, reason: e.metric_label() }).inc();
    }
    res
}

/// Every failed reconcile is retried after the same delay.
fn error_policy<K>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(error = %error, reason = error.metric_label(), "will retry");
    Action::requeue(Duration::from_secs(15))
}
