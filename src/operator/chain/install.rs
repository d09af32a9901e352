//! One apply pass over a TektonChain: validate, build, apply every object,
//! fill (or create) signing-secrets if asked, and move the install when targetNamespace changed.

use kube::ResourceExt;
use tracing::{info, warn};

use super::reached::{Install, Reached, deployment_available};
use super::uninstall::{disabled_message, installed_namespace, uninstall};
use crate::crd::TektonChain;
use crate::operator::context::Context;
use crate::operator::desired;
use crate::operator::error::Result;
use crate::operator::signing_secret;
use crate::operator::validate::validate;
use crate::tekton::objects::CA_BUNDLE_PATHS;

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
        // The ConfigMaps come first: the Deployment carries their CA data's hash.
        let stamped;
        let obj = if obj.resource.kind == "Deployment" {
            stamped = desired::with_ca_bundles(obj.clone(), &ca_bundles);
            &stamped
        } else {
            obj
        };
        let live = match ctx.applier.ensure(obj).await {
            Ok(live) => live,
            Err(e) => return Ok(Reached::ApplyFailed(e)),
        };
        match obj.resource.kind.as_str() {
            "Deployment" => deployment = Some(live),
            "ConfigMap" if CA_BUNDLE_PATHS.iter().any(|(name, _)| *name == obj.name) => {
                ca_bundles.push(live.data.get("data").cloned().unwrap_or_default());
            }
            _ => {}
        }
    }
    let generate = chain.spec.chain.generate_signing_secret == Some(true);
    let labels = desired::common_labels(&ctx.build.version);
    let secret = signing_secret::reconcile(&ctx.applier, &valid.namespace, generate, &labels).await?;

    if let Some(old) = installed_namespace(chain).filter(|old| *old != valid.namespace) {
        info!(from = %old, to = %valid.namespace, "targetNamespace changed: removing the old install");
        uninstall(chain, ctx, &old, false).await?;
    }

    let deployment = deployment_available(deployment.as_ref().expect("the install has a Deployment"));
    Ok(Reached::Installed(Install { namespace: valid.namespace, objects: objects.len(), deployment, secret }))
}
