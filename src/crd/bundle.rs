//! The OLM bundle (`bundle/`), generated (pure): the ClusterServiceVersion,
//! the CRDs and the bundle metadata. The CSV is built from the Rust types
//! (owned CRDs), the kustomize install (ClusterRole rules, the operator
//! Deployment) and the samples (alm-examples), so it cannot drift from them.

use serde_json::{Value, json};

use super::crds;

const NAME: &str = "tekton-chains-operator";
const CLUSTER_ROLE: &str = include_str!("../../config/rbac/cluster_role.yaml");
const DEPLOYMENT: &str = include_str!("../../config/manager/deployment.yaml");
const SAMPLE_CHAIN: &str = include_str!("../../config/samples/tektonchain.yaml");
const SAMPLE_CONFIG: &str = include_str!("../../config/samples/tektonconfig.yaml");
/// A small icon (SVG): two chain links.
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="4" y="20" width="34" height="24" rx="12" fill="none" stroke="#fd495c" stroke-width="6"/><rect x="26" y="20" width="34" height="24" rx="12" fill="none" stroke="#3a4a6b" stroke-width="6"/></svg>"##;
/// The OLM channel the bundle is published to.
pub const CHANNEL: &str = "alpha";

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("a manifest of this repository parses")
}

/// `tekton-chains-operator:v<version>`, the image the CSV runs.
pub fn image() -> String {
    format!("{NAME}:v{}", env!("CARGO_PKG_VERSION"))
}

/// The ClusterServiceVersion.
pub fn csv() -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let mut deployment = yaml(DEPLOYMENT);
    // kustomize sets the tag of the install; the CSV names the image in full.
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image());
    let owned: Vec<Value> = crds()
        .iter()
        .map(|c| {
            let kind = &c.spec.names.kind;
            let description = match kind.as_str() {
                "TektonChain" => "Installs Tekton Chains (the signing controller) into a target namespace",
                _ => "The cluster's Tekton configuration; its chain section drives TektonChain",
            };
            json!({ "name": c.metadata.name, "version": c.spec.versions[0].name, "kind": kind,
                    "displayName": kind, "description": description })
        })
        .collect();
    let examples = serde_json::to_string_pretty(&json!([yaml(SAMPLE_CHAIN), yaml(SAMPLE_CONFIG)])).expect("json");
    json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": format!("{NAME}.v{version}"),
            "annotations": {
                "alm-examples": examples,
                "capabilities": "Basic Install",
                "categories": "Developer Tools, Security",
                "containerImage": image(),
                "description": "Tekton Chains: signs TaskRuns, PipelineRuns and the images they build (in-toto/SLSA provenance, cosign, Rekor)",
                "operators.operatorframework.io/builder": "tekton-chains-operator",
                "repository": "https://github.com/tektoncd/chains",
                "support": "tekton-chains-operator",
            },
        },
        "spec": {
            "displayName": "Tekton Chains Operator",
            "icon": [{ "base64data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ICON), "mediatype": "image/svg+xml" }],
            "description": "Installs and runs Tekton Chains, the supply-chain security part of Tekton and OpenShift Pipelines.\n\nCreate a `TektonChain` (or the `chain` section of `TektonConfig`) and every finished TaskRun and PipelineRun is signed: in-toto/SLSA provenance, cosign signatures and attestations in the image's registry, and Rekor transparency log entries, verifiable with `cosign verify`, `cosign verify-attestation` and `rekor-cli`.",
            "version": version,
            "maturity": CHANNEL,
            "minKubeVersion": "1.25.0",
            "keywords": ["tekton", "chains", "supply chain", "slsa", "sigstore", "cosign"],
            "links": [{ "name": "Tekton Chains", "url": "https://tekton.dev/docs/chains/" }],
            "maintainers": [{ "name": "tekton-chains-operator", "email": "tekton-chains-operator@example.com" }],
            "provider": { "name": "tekton-chains-operator" },
            "installModes": [
                { "type": "OwnNamespace", "supported": false },
                { "type": "SingleNamespace", "supported": false },
                { "type": "MultiNamespace", "supported": false },
                { "type": "AllNamespaces", "supported": true },
            ],
            "customresourcedefinitions": { "owned": owned },
            "install": {
                "strategy": "deployment",
                "spec": {
                    "clusterPermissions": [{ "serviceAccountName": NAME, "rules": yaml(CLUSTER_ROLE)["rules"] }],
                    "deployments": [{ "name": NAME, "label": deployment["metadata"]["labels"], "spec": deployment["spec"] }],
                },
            },
        },
    })
}

/// `metadata/annotations.yaml`.
pub fn annotations() -> Value {
    json!({ "annotations": {
        "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
        "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
        "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
        "operators.operatorframework.io.bundle.package.v1": NAME,
        "operators.operatorframework.io.bundle.channels.v1": CHANNEL,
        "operators.operatorframework.io.bundle.channel.default.v1": CHANNEL,
    } })
}

/// Every file of the bundle: (path under `bundle/`, content).
pub fn files() -> Vec<(String, String)> {
    let mut out = vec![(format!("manifests/{NAME}.clusterserviceversion.yaml"), to_yaml(&csv()))];
    for c in crds() {
        let name = c.metadata.name.clone().unwrap_or_default();
        let (plural, group) = name.split_once('.').unwrap_or((&name, ""));
        out.push((format!("manifests/{group}_{plural}.yaml"), serde_yaml::to_string(&c).expect("CRD serializes")));
    }
    out.push(("metadata/annotations.yaml".into(), to_yaml(&annotations())));
    out
}

fn to_yaml(v: &Value) -> String {
    serde_yaml::to_string(v).expect("value serializes")
}

/// Writes the bundle under `dir` (`make bundle`).
pub fn write(dir: &std::path::Path) -> std::io::Result<()> {
    for (path, text) in files() {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("a file in a folder"))?;
        std::fs::write(p, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_on_disk_matches_the_rust_types_and_manifests() {
        for (path, text) in files() {
            let full = format!("{}/bundle/{path}", env!("CARGO_MANIFEST_DIR"));
            let on_disk = std::fs::read_to_string(&full).unwrap_or_default();
            assert!(on_disk == text, "bundle/{path} is out of date: run `make bundle` and commit the result");
        }
    }

    #[test]
    fn the_csv_owns_both_crds_and_runs_the_install_deployment() {
        let csv = csv();
        let owned = csv["spec"]["customresourcedefinitions"]["owned"].as_array().unwrap();
        assert_eq!(owned.len(), 2);
        assert_eq!(owned[0]["name"], "tektonchains.operator.tekton.dev");
        let examples: Value =
            serde_json::from_str(csv["metadata"]["annotations"]["alm-examples"].as_str().unwrap()).unwrap();
        assert_eq!(examples[0]["kind"], "TektonChain");
        assert_eq!(examples[1]["spec"]["chain"]["generateSigningSecret"], true);
        let d = &csv["spec"]["install"]["spec"]["deployments"][0]["spec"]["template"]["spec"];
        assert_eq!(d["serviceAccountName"], NAME);
        assert_eq!(d["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(d["containers"][0]["image"], image());
    }
}
