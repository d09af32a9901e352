//! TektonChain → objects in targetNamespace:
//! dereference → validate → build → apply → status.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::Context;
use super::desired::{self, DesiredObject, Mode, Ownership};
use super::error::{Error, Result};
use super::signing_secret;
use super::status::write_status;
use super::validate::{ValidChain, validate};
use crate::crd::{CHAIN_NAME, ConditionUpdate, TektonChain};

/// Finalizer that removes the install before the TektonChain goes away.
pub const FINALIZER: &str = "operator.tekton.dev/tektonchain";
/// How often a healthy install is re-checked for drift.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one TektonChain.
pub async fn reconcile(chain: Arc<TektonChain>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<TektonChain> = Api::all(ctx.applier.client().clone());
    if chain.name_any() != CHAIN_NAME {
        let msg = format!("Only one instance of TektonChain is allowed by name, {CHAIN_NAME}");
        let conditions = vec![ConditionUpdate::new("Ready", false, "InvalidName", msg)];
        write_status(&ctx, chain.as_ref(), conditions, None).await?;
        return Ok(Action::await_change());
    }
    finalizer(&api, FINALIZER, chain, |event| async {
        match event {
            Finalizer::Apply(chain) => apply(chain, &ctx).await,
            Finalizer::Cleanup(chain) => cleanup(chain, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer { object: format!("TektonChain {CHAIN_NAME}"), message: other.to_string() },
    })
}

async fn apply(chain: Arc<TektonChain>, ctx: &Context) -> Result<Action> {
    let valid = match validate(&chain.spec) {
        Ok(v) => v,
        Err(errors) => {
            // Nothing is applied: the last good install stays as it is.
            warn!(tektonchain = %chain.name_any(), error = %errors, "rejected TektonChain spec");
            let msg = errors.to_string();
            let conditions = vec![
                ConditionUpdate::new("ConfigValid", false, "InvalidValue", msg.clone()),
                ConditionUpdate::new("Ready", false, "InvalidValue", msg),
            ];
            let installed = installed_namespace(&chain);
            write_status(ctx, chain.as_ref(), conditions, installed).await?;
            return Ok(Action::await_change());
        }
    };
    if chain.spec.chain.disabled == Some(true) {
        if let Some(ns) = installed_namespace(&chain) {
            uninstall(&chain, ctx, &ns, true).await?;
        }
        let conditions =
            vec![ConditionUpdate::new("Ready", true, "Disabled", disabled_message(ctx, &valid.namespace).await?)];
        write_status(ctx, chain.as_ref(), conditions, None).await?;
        return Ok(Action::await_change());
    }

    let objects = desired::build(&chain, &valid, &ctx.build);
    let (mut deployment, mut secret) = (None, None);
    for obj in &objects {
        let live = match ctx.applier.ensure(obj).await {
            Ok(live) => live,
            Err(e) => {
                let msg = e.to_string();
                let reason = if matches!(e, Error::NotOurs { .. }) { "NotOwned" } else { "ApplyFailed" };
                let conditions = vec![
                    ConditionUpdate::new("ConfigValid", true, "Valid", ""),
                    ConditionUpdate::new("Installed", false, reason, msg.clone()),
                    ConditionUpdate::new("Ready", false, reason, msg),
                ];
                write_status(ctx, chain.as_ref(), conditions, installed_namespace(&chain)).await?;
                return Err(e);
            }
        };
        match obj.resource.kind.as_str() {
            "Deployment" => deployment = Some(live),
            "Secret" => secret = Some(live),
            _ => {}
        }
    }
    let generate = chain.spec.chain.generate_signing_secret == Some(true);
    let secret = secret.expect("the install has a signing Secret");
    let secret_condition = signing_secret::reconcile(&ctx.applier, &valid.namespace, generate, &secret).await?;

    if let Some(old) = installed_namespace(&chain).filter(|old| *old != valid.namespace) {
        info!(from = %old, to = %valid.namespace, "targetNamespace changed: removing the old install");
        uninstall(&chain, ctx, &old, false).await?;
    }

    let available = deployment_available(deployment.as_ref().expect("the install has a Deployment"));
    let ready = available.is_ok();
    let (avail_reason, avail_msg) = match available {
        Ok(()) => ("Available", String::new()),
        Err(msg) => ("NotAvailable", msg),
    };
    let conditions = vec![
        ConditionUpdate::new("ConfigValid", true, "Valid", ""),
        ConditionUpdate::new("Installed", true, "Applied", format!("{} objects in {}", objects.len(), valid.namespace)),
        ConditionUpdate::new("DeploymentAvailable", ready, avail_reason, avail_msg.clone()),
        secret_condition,
        if ready {
            ConditionUpdate::new("Ready", true, "Ready", "")
        } else {
            ConditionUpdate::new("Ready", false, "DeploymentNotAvailable", avail_msg)
        },
    ];
    write_status(ctx, chain.as_ref(), conditions, Some(valid.namespace.clone())).await?;
    Ok(Action::requeue(RESYNC))
}

async fn cleanup(chain: Arc<TektonChain>, ctx: &Context) -> Result<Action> {
    let ns = installed_namespace(&chain).unwrap_or_else(|| chain.spec.target_namespace.clone());
    uninstall(&chain, ctx, &ns, true).await?;
    let msg = disabled_message(ctx, &ns).await?;
    info!(tektonchain = %chain.name_any(), namespace = %ns, "{msg}");
    Ok(Action::await_change())
}

/// Deletes what this TektonChain installed in `ns` (cluster-scoped objects
/// too when `everything`). The Namespace and signing-secrets are kept.
async fn uninstall(chain: &TektonChain, ctx: &Context, ns: &str, everything: bool) -> Result<()> {
    let uid = chain.uid().unwrap_or_default();
    let valid = ValidChain { namespace: ns.to_string(), config_data: Default::default() };
    let objects: Vec<DesiredObject> = desired::build(chain, &valid, &ctx.build);
    for obj in objects.iter().rev().filter(|o| everything || o.namespace.is_some()) {
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
    Ok(())
}

async fn disabled_message(ctx: &Context, ns: &str) -> Result<String> {
    let kept = signing_secret::kept_message(&ctx.applier, ns).await?;
    Ok(match kept {
        Some(k) => format!("Tekton Chains is not installed; {k}"),
        None => "Tekton Chains is not installed".to_string(),
    })
}

fn installed_namespace(chain: &TektonChain) -> Option<String> {
    chain.status.as_ref().and_then(|s| s.installed_namespace.clone())
}

/// Ok when the Deployment reports Available for its current generation.
fn deployment_available(d: &DynamicObject) -> Result<(), String> {
    let status = &d.data["status"];
    let generation = d.meta().generation.unwrap_or_default();
    let observed = status["observedGeneration"].as_i64().unwrap_or_default();
    let available = status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Available" && c["status"] == "True"));
    if available && observed >= generation {
        Ok(())
    } else {
        let ready = status["availableReplicas"].as_i64().unwrap_or_default();
        let want = d.data["spec"]["replicas"].as_i64().unwrap_or(1);
        Err(format!(
            "Deployment {}/{} has {ready}/{want} available replicas",
            d.namespace().unwrap_or_default(),
            d.name_any()
        ))
    }
}
