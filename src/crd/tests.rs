use super::*;
use crate::config::KEYS;

#[test]
fn crd_manifests_match_the_rust_types() {
    for copy in ["crds/crds.yaml", "config/crd/crds.yaml", "helm/tekton-chains-operator/files/crds.yaml"] {
        let path = format!("{}/{copy}", env!("CARGO_MANIFEST_DIR"));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == crds_yaml(),
            "{copy} is out of date with the Rust types: run `make crds` and commit the result"
        );
    }
}

#[test]
fn every_chains_config_key_is_a_spec_field() {
    let crd = serde_json::to_value(TektonChain::crd()).unwrap();
    let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for k in KEYS {
        assert!(props.get(k.key).is_some(), "TektonChain.spec lacks {}", k.key);
    }
    let cfg = serde_json::to_value(TektonConfig::crd()).unwrap();
    let chain = &cfg["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["chain"];
    assert!(chain["properties"].get("artifacts.taskrun.format").is_some());
    assert!(chain["properties"].get("disabled").is_some());
}

#[test]
fn cr_from_seed_parses_and_bools_take_strings() {
    let yaml = r#"
apiVersion: operator.tekton.dev/v1alpha1
kind: TektonChain
metadata: {name: chain}
spec:
  targetNamespace: openshift-pipelines
  transparency.enabled: true
  artifacts.pipelinerun.enable-deep-inspection: "true"
  artifacts.oci.storage: ""
"#;
    let c: TektonChain = serde_yaml::from_str(yaml).unwrap();
    let data = c.spec.chain.keys.to_config_data();
    assert_eq!(data["transparency.enabled"], "true");
    assert_eq!(data["artifacts.pipelinerun.enable-deep-inspection"], "true");
    assert_eq!(data["artifacts.oci.storage"], "");
    assert_eq!(data.len(), 3);
}

#[test]
fn tektonconfig_keeps_other_sections() {
    let yaml = r#"
apiVersion: operator.tekton.dev/v1alpha1
kind: TektonConfig
metadata: {name: config}
spec:
  profile: all
  addon: {}
  pipeline: {enable-api-fields: beta}
  chain:
    artifacts.taskrun.format: tekton
"#;
    let c: TektonConfig = serde_yaml::from_str(yaml).unwrap();
    assert!(c.spec.other.contains_key("addon"));
    assert_eq!(c.spec.chain.unwrap().keys.artifacts_taskrun_format.as_deref(), Some("tekton"));
}
