//! One apply pass over a TektonChain: validate, build, apply every object,
//! fill (or create) signing-secrets if asked, and move the install when targetNamespace changed.

use kube::ResourceExt;
use tracing::{info, warn};

use super::reached::{Install, Reached, deployment_available};
use super::uninstall::{disabled_message, installed_namespace, uninstall};
use crate::crd::TektonChain;
use crate::operator::context::Context;
use crate::operator::desired::{self, Mode, WORKLOAD_KINDS};
use crate::operator::error::Result;
use crate::operator::signing_secret;
use crate::operator::validate::validate;
use crate::tekton::objects::READ_AT_START;

/// Applies the TektonChain and says how far that got. An error here leaves
/// the status as it is; a failed object write is [`Reached::ApplyFailed`].
pub async fn install(chain: &TektonChain, ctx: &Context) -> Result<Reached> {
    let valid = match validate(&chain.spec) {
        Ok(v) => v,
        Err(errors) => {
            // Nothing is applied: the last good install stays as it is.
            warn!(tektonchain = %chain.name_any(), error = %errors, "rejected TektonChain spec");
            return Ok(Reached::Invalid(errors));
        }
    };
    if chain.spec.chain.disabled == Some(true) {
        if let Some(ns) = installed_namespace(chain) {
            uninstall(chain, ctx, &ns, true).await?;
        }
        return Ok(Reached::Disabled { message: disabled_message(ctx, &valid.namespace).await? });
    }

    let objects = desired::build(chain, &valid, &ctx.build);
    let (mut deployment, mut ca_bundles) = (None, Vec::new());
    for obj in &objects {
        // The ConfigMaps come first: the Deployment carries a hash of the data it reads at start.
        let stamped;
        if matches!(obj.mode, Mode::Absent) {
            match ctx.applier.remove(obj).await {
                Ok(true) => info!(object = %obj.describe(), "deleted (the controller's other workload kind)"),
                Ok(false) => {}
                Err(e) => return Ok(Reached::ApplyFailed(e)),
            }
            continue;
        }
        let obj = if WORKLOAD_KINDS.contains(&obj.resource.kind.as_str()) {
            stamped = desired::with_start_config(obj.clone(), &ca_bundles);
            &stamped
        } else {
            obj
        };
        let live = match ctx.applier.ensure(obj).await {
            Ok(live) => live,
            Err(e) => return Ok(Reached::ApplyFailed(e)),
        };
        match obj.resource.kind.as_str() {
            "Deployment" | "StatefulSet" => deployment = Some(live),
            "ConfigMap" if READ_AT_START.contains(&obj.name.as_str()) => {
                ca_bundles.push(live.data.get("data").cloned().unwrap_or_default());
            }
            _ => {}
        }
    }
    // Roles of namespaces no longer watched go (after the new ones are in place).
    if let Err(e) = super::scope::sweep(chain, ctx, &super::scope::kept(&objects)).await {
        return Ok(Reached::ApplyFailed(e));
    }
    let generate = chain.spec.chain.generate_signing_secret == Some(true);
    let labels = desired::common_labels(&ctx.build.version);
    let secret = signing_secret::reconcile(&ctx.applier, &valid.namespace, generate, &labels).await?;

    if let Some(old) = installed_namespace(chain).filter(|old| *old != valid.namespace) {
        info!(from = %old, to = %valid.namespace, "targetNamespace changed: removing the old install");
        uninstall(chain, ctx, &old, false).await?;
    }

    let deployment = deployment_available(deployment.as_ref().expect("the install has a Deployment"));
    let objects = objects.iter().filter(|o| !matches!(o.mode, Mode::Absent)).count();
    Ok(Reached::Installed(Install { namespace: valid.namespace, objects, deployment, secret }))
}
