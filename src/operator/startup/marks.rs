//! Marks of the tektoncd / OpenShift Pipelines operator, which reconciles
//! the same TektonConfig and TektonChain CRs: two operators on one CR
//! would overwrite each other's install.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

use crate::operator::error::{Error, Result, Step};

/// The CRD only that operator installs (its TektonInstallerSets).
pub const OTHER_OPERATOR_CRD: &str = "tektoninstallersets.operator.tekton.dev";

/// Its Deployments, as OLM (OpenShift Pipelines) and its release manifest (tektoncd) name them.
pub const OTHER_OPERATOR_DEPLOYMENTS: &[(&str, &str)] =
    &[("openshift-operators", "openshift-pipelines-operator"), ("tekton-operator", "tekton-operator")];

/// What of the other operator is there, as "Kind name" words (empty: none).
pub async fn find_other_operator(client: &Client) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let what = format!("CustomResourceDefinition {OTHER_OPERATOR_CRD}");
    if crds.get_opt(OTHER_OPERATOR_CRD).await.map_err(Error::kube(Step::Get, &what))?.is_some() {
        found.push(what);
    }
    for (ns, name) in OTHER_OPERATOR_DEPLOYMENTS {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let what = format!("Deployment {ns}/{name}");
        if api.get_opt(name).await.map_err(Error::kube(Step::Get, &what))?.is_some() {
            found.push(what);
        }
    }
    Ok(found)
}
