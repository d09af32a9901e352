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

#[test]
fn condition_words_are_the_api_strings() {
    let types: Vec<_> = ConditionType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, ["Ready", "ConfigValid", "Installed", "DeploymentAvailable", "SigningSecret", "ChainReady"]);
    for r in Reason::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(format!("{r:?}")), "{r} is its own name");
        assert_eq!(serde_json::from_value::<Reason>(serde_json::json!(r.as_str())).unwrap(), *r);
        assert_eq!(Reason::parse(&r.to_string()), Some(*r));
    }
    assert!(serde_json::from_value::<ConditionType>(serde_json::json!("Nope")).is_err());
    assert_eq!(Reason::parse("ready"), None);
}

#[test]
fn unchanged_conditions_keep_their_transition_time() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let t = |s: i64| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
    let ready = |status| vec![ConditionUpdate::new(ConditionType::Ready, status, Reason::Ready, "")];
    let mut status = ComponentStatus::default();
    status.set_conditions(ready(true), Some(1), &t(10));
    assert!(status.is_ready());
    let before = status.clone();
    status.set_conditions(ready(true), Some(1), &t(20));
    assert_eq!(status, before, "same state, same status: no write");
    status.set_conditions(ready(false), Some(2), &t(30));
    let c = status.condition(ConditionType::Ready).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_str(), c.last_transition_time.0.as_second()), ("False", "Ready", 30));
    assert_eq!(status.observed_generation, Some(2));
}
