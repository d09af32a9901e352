//! The watch scope's Roles left in namespaces no longer watched: found by
//! name across namespaces (a `metadata.name` field selector, which the
//! operator's resourceNames allow), and deleted when this TektonChain owns them.

use k8s_openapi::api::rbac::v1::Role;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use tracing::info;

use crate::crd::TektonChain;
use crate::operator::context::Context;
use crate::operator::desired::{self, DesiredObject, Mode};
use crate::operator::error::{Error, Result, Step};
use crate::tekton::objects::SCOPED_ROLE;

/// The namespaces the install has a scoped Role in now.
pub fn kept(objects: &[DesiredObject]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.resource.kind == "Role" && o.name == SCOPED_ROLE && matches!(o.mode, Mode::Apply(_)))
        .filter_map(|o| o.namespace.clone())
        .collect()
}

/// Deletes this TektonChain's scoped Roles and RoleBindings outside `keep`.
pub async fn sweep(chain: &TektonChain, ctx: &Context, keep: &[String]) -> Result<()> {
    let uid = chain.uid().unwrap_or_default();
    let roles: Api<Role> = Api::all(ctx.applier.client().clone());
    let lp = ListParams::default().fields(&format!("metadata.name={SCOPED_ROLE}"));
    let what = format!("Roles {SCOPED_ROLE}");
    let found = roles.list(&lp).await.map_err(Error::kube(Step::Get, &what))?;
    for role in found.items {
        let Some(n) = role.namespace().filter(|n| !keep.contains(n)) else { continue };
        if !role.owner_references().iter().any(|o| o.uid == uid) {
            continue;
        }
        for obj in desired::scoped_absent(&n) {
            if ctx.applier.delete_owned(&obj, &uid).await? {
                info!(object = %obj.describe(), "deleted (namespace no longer watched)");
            }
        }
    }
    Ok(())
}
