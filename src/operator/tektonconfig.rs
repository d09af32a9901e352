//! TektonConfig `config` → TektonChain `chain`, and TektonChain health → TektonConfig status.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

use super::Context;
use super::desired::{self, DesiredObject, Mode};
use super::error::{Error, Result};
use super::signing_secret;
use super::status::write_status;
use crate::crd::{CHAIN_NAME, CONFIG_NAME, ChainSpec, ConditionUpdate, TektonChain, TektonChainSpec, TektonConfig};

/// Reconciles one TektonConfig.
pub async fn reconcile(tc: Arc<TektonConfig>, ctx: Arc<Context>) -> Result<Action> {
    if tc.name_any() != CONFIG_NAME {
        let msg = format!("Only one instance of TektonConfig is allowed by name, {CONFIG_NAME}");
        write_status(&ctx, tc.as_ref(), vec![ConditionUpdate::new("Ready", false, "InvalidName", msg)], None).await?;
        return Ok(Action::await_change());
    }
    let ns = tc.spec.target_namespace.clone().unwrap_or_else(|| ctx.default_namespace.clone());
    let chain_spec = tc.spec.chain.clone().unwrap_or_default();
    let chain_condition = if chain_spec.disabled == Some(true) {
        remove_chain(&ctx).await?;
        let kept = signing_secret::kept_message(&ctx.applier, &ns).await?;
        let msg = match kept {
            Some(k) => format!("Tekton Chains is disabled; {k}"),
            None => "Tekton Chains is disabled".into(),
        };
        ConditionUpdate::new("ChainReady", true, "Disabled", msg)
    } else {
        let obj = desired_chain(&tc, &ns, chain_spec);
        let live = ctx.applier.ensure(&obj).await?;
        let chain: TektonChain = serde_json::from_value(serde_json::to_value(live).unwrap_or_default())
            .map_err(|e| Error::Decode { object: "TektonChain chain".into(), message: e.to_string() })?;
        chain_health(&chain)
    };
    let ready = ConditionUpdate::new(
        "Ready",
        chain_condition.status,
        chain_condition.reason.clone(),
        chain_condition.message.clone(),
    );
    write_status(&ctx, tc.as_ref(), vec![chain_condition, ready], None).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
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

/// TektonChain's Ready, as a TektonConfig condition.
fn chain_health(chain: &TektonChain) -> ConditionUpdate {
    let status = chain.status.clone().unwrap_or_default();
    if status.observed_generation != chain.meta().generation {
        return ConditionUpdate::new(
            "ChainReady",
            false,
            "Reconciling",
            "waiting for TektonChain chain to be reconciled",
        );
    }
    match status.condition("Ready") {
        Some(c) => {
            let message =
                if c.message.is_empty() { String::new() } else { format!("TektonChain chain: {}", c.message) };
            ConditionUpdate::new("ChainReady", c.status == "True", c.reason.clone(), message)
        }
        None => {
            ConditionUpdate::new("ChainReady", false, "Reconciling", "waiting for TektonChain chain to be reconciled")
        }
    }
}

async fn remove_chain(ctx: &Context) -> Result<()> {
    let api: Api<TektonChain> = Api::all(ctx.applier.client().clone());
    let existing = api.get_opt(CHAIN_NAME).await.map_err(Error::kube("get", "TektonChain chain"))?;
    if let Some(chain) = existing.filter(|c| c.meta().deletion_timestamp.is_none()) {
        ctx.applier.count_write();
        api.delete(&chain.name_any(), &DeleteParams::default())
            .await
            .map_err(Error::kube("delete", "TektonChain chain"))?;
        info!("chain.disabled is true: deleted TektonChain chain");
    }
    Ok(())
}
