//! TektonConfig `config` → TektonChain `chain`, and TektonChain health → TektonConfig status.

mod reached;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

pub use reached::Reached;

use super::context::Context;
use super::desired::{self, DesiredObject, Mode};
use super::error::{Error, Result, Step};
use super::signing_secret;
use super::status::write_status;
use crate::crd::{CHAIN_NAME, CONFIG_NAME, ChainSpec, TektonChain, TektonChainSpec, TektonConfig};

/// How often the TektonChain's health is re-read.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one TektonConfig.
pub async fn reconcile(tc: Arc<TektonConfig>, ctx: Arc<Context>) -> Result<Action> {
    let reached = if tc.name_any() != CONFIG_NAME { Reached::WrongName } else { sync_chain(&tc, &ctx).await? };
    write_status(&ctx, tc.as_ref(), reached.status()).await?;
    Ok(match reached {
        Reached::WrongName => Action::await_change(),
        Reached::Disabled { .. } | Reached::Chain(_) => Action::requeue(RESYNC),
    })
}

/// Applies (or, when disabled, deletes) the TektonChain.
async fn sync_chain(tc: &TektonConfig, ctx: &Context) -> Result<Reached> {
    let ns = tc.spec.target_namespace.clone().unwrap_or_else(|| ctx.default_namespace.clone());
    let chain_spec = tc.spec.chain.clone().unwrap_or_default();
    if chain_spec.disabled == Some(true) {
        remove_chain(ctx).await?;
        let kept = signing_secret::kept_message(&ctx.applier, &ns).await?;
        return Ok(Reached::Disabled { kept });
    }
    let obj = desired_chain(tc, &ns, chain_spec);
    let live = ctx.applier.ensure(&obj).await?;
    let chain: TektonChain = serde_json::from_value(serde_json::to_value(live).unwrap_or_default())
        .map_err(|e| Error::Decode { object: "TektonChain chain".into(), message: e.to_string() })?;
    Ok(Reached::Chain(Box::new(chain)))
}

/// The TektonChain that mirrors TektonConfig's chain section, owned by it.
fn desired_chain(tc: &TektonConfig, ns: &str, mut chain: ChainSpec) -> DesiredObject {
    chain.disabled = None;
    let spec = TektonChainSpec { target_namespace: ns.to_string(), config: tc.spec.config.clone(), chain };
    let owner = tc.controller_owner_ref(&()).expect("TektonConfig has name and uid");
    let body = json!({
        "apiVersion": TektonChain::api_version(&()),
        "kind": TektonChain::kind(&()),
        "metadata": { "name": CHAIN_NAME, "ownerReferences": [owner] },
        "spec": spec,
    });
    desired::hashed(DesiredObject {
        resource: ApiResource::erase::<TektonChain>(&()),
        namespace: None,
        name: CHAIN_NAME.into(),
        mode: Mode::Apply(body),
        ownership: desired::Ownership::Owned { adopt: true },
    })
}

async fn remove_chain(ctx: &Context) -> Result<()> {
    let api: Api<TektonChain> = Api::all(ctx.applier.client().clone());
    let existing = api.get_opt(CHAIN_NAME).await.map_err(Error::kube(Step::Get, "TektonChain chain"))?;
    if let Some(chain) = existing.filter(|c| c.meta().deletion_timestamp.is_none()) {
        ctx.applier.count_write();
        api.delete(&chain.name_any(), &DeleteParams::default())
            .await
            .map_err(Error::kube(Step::Delete, "TektonChain chain"))?;
        info!("chain.disabled is true: deleted TektonChain chain");
    }
    Ok(())
}
