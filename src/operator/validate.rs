//! Validation of a TektonChain spec: pure, all errors at once, no partial result.

use std::collections::BTreeMap;

use crate::config::{self, ConfigError, ConfigErrors};
use crate::crd::{ChainSpec, TektonChainSpec};
use crate::tekton::objects as names;

/// A spec that passed validation, with what the build step needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidChain {
    /// The targetNamespace.
    pub namespace: String,
    /// The chains-config keys this CR sets.
    pub config_data: BTreeMap<String, String>,
}

/// Checks every field; the error names each bad field, its value and what is allowed.
pub fn validate(spec: &TektonChainSpec) -> Result<ValidChain, ConfigErrors> {
    let mut errors = Vec::new();
    if !is_dns_label(&spec.target_namespace) {
        errors.push(field_error(
            "spec.targetNamespace",
            &spec.target_namespace,
            "a DNS label: lowercase letters, digits and '-', at most 63 characters",
        ));
    }
    let config_data = spec.chain.keys.to_config_data();
    if let Err(ConfigErrors(bad)) = config::validate(&config_data) {
        errors.extend(bad.into_iter().map(|e| ConfigError { key: format!("spec.{}", e.key), ..e }));
    }
    errors.extend(check_performance(&spec.chain));
    errors.extend(check_options(&spec.chain));
    if errors.is_empty() {
        Ok(ValidChain { namespace: spec.target_namespace.clone(), config_data })
    } else {
        Err(ConfigErrors(errors))
    }
}

fn check_performance(chain: &ChainSpec) -> Vec<ConfigError> {
    let Some(p) = &chain.performance else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut int = |name: &str, v: Option<i32>, min: i32, max: i32| {
        if let Some(v) = v.filter(|v| *v < min || *v > max) {
            let allowed = if max == i32::MAX { format!("an integer >= {min}") } else { format!("{min} to {max}") };
            errors.push(field_error(&format!("spec.performance.{name}"), &v.to_string(), &allowed));
        }
    };
    int("threads-per-controller", p.threads_per_controller, 1, i32::MAX);
    int("kube-api-burst", p.kube_api_burst, 1, i32::MAX);
    int("replicas", p.replicas, 0, i32::MAX);
    int("buckets", p.buckets, 1, 10);
    if p.statefulset_ordinals == Some(true) {
        let replicas = p.replicas.unwrap_or(1);
        // Pod N signs bucket N: as many buckets as pods, at most ten.
        int("replicas", Some(replicas), 1, 10);
        if let Some(b) = p.buckets.filter(|b| *b != replicas) {
            let allowed = format!("{replicas} (the replicas: with statefulset-ordinals each pod signs one bucket)");
            errors.push(field_error("spec.performance.buckets", &b.to_string(), &allowed));
        }
    }
    if let Some(q) = p.kube_api_qps.filter(|q| !q.is_finite() || *q < 0.0) {
        errors.push(field_error("spec.performance.kube-api-qps", &q.to_string(), "a number >= 0"));
    }
    errors
}

fn check_options(chain: &ChainSpec) -> Vec<ConfigError> {
    let Some(o) = &chain.options else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for name in o.deployments.iter().flat_map(|d| d.keys()) {
        if name != names::DEPLOYMENT {
            errors.push(field_error("spec.options.deployments", name, &format!("{:?}", names::DEPLOYMENT)));
        }
    }
    for name in o.config_maps.iter().flat_map(|d| d.keys()) {
        if !names::CONFIG_MAPS.contains(&name.as_str()) {
            let allowed = names::CONFIG_MAPS.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
            errors.push(field_error("spec.options.configMaps", name, &allowed));
        }
    }
    errors
}

fn field_error(key: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError { key: key.into(), value: Some(value.into()), allowed: allowed.into() }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{BoolOrString, Performance};

    fn spec(ns: &str) -> TektonChainSpec {
        TektonChainSpec { target_namespace: ns.into(), ..Default::default() }
    }

    #[test]
    fn seed_spec_is_valid() {
        let v = validate(&spec("openshift-pipelines")).unwrap();
        assert_eq!(v.namespace, "openshift-pipelines");
        assert!(v.config_data.is_empty());
    }

    #[test]
    fn bool_keys_take_bools_and_strings() {
        let mut s = spec("ns");
        s.chain.keys.transparency_enabled = Some(BoolOrString::Bool(true));
        s.chain.keys.artifacts_pipelinerun_enable_deep_inspection = Some(BoolOrString::String("false".into()));
        let v = validate(&s).unwrap();
        assert_eq!(v.config_data["transparency.enabled"], "true");
        assert_eq!(v.config_data["artifacts.pipelinerun.enable-deep-inspection"], "false");
    }

    #[test]
    fn statefulset_ordinals_want_as_many_buckets_as_replicas() {
        let mut s = spec("ns");
        let p = |replicas, buckets| Performance {
            statefulset_ordinals: Some(true),
            replicas,
            buckets,
            ..Default::default()
        };
        s.chain.performance = Some(p(Some(3), Some(3)));
        assert!(validate(&s).is_ok());
        s.chain.performance = Some(p(Some(3), Some(10)));
        let text = validate(&s).unwrap_err().to_string();
        assert!(text.contains(r#"spec.performance.buckets: invalid value "10"; allowed: 3 (the replicas"#), "{text}");
        s.chain.performance = Some(p(Some(12), None));
        let text = validate(&s).unwrap_err().to_string();
        assert!(text.contains(r#"spec.performance.replicas: invalid value "12"; allowed: 1 to 10"#), "{text}");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut s = spec("Bad_NS");
        s.chain.keys.artifacts_taskrun_format = Some("foo".into());
        s.chain.keys.transparency_enabled = Some(BoolOrString::String("maybe".into()));
        s.chain.keys.artifacts_taskrun_storage = Some("tekton,s3".into());
        s.chain.performance = Some(Performance { kube_api_qps: Some(-1.0), buckets: Some(11), ..Default::default() });
        let text = validate(&s).unwrap_err().to_string();
        for needle in [
            r#"spec.targetNamespace: invalid value "Bad_NS""#,
            r#"spec.artifacts.taskrun.format: invalid value "foo"; allowed: "in-toto""#,
            r#"spec.transparency.enabled: invalid value "maybe"; allowed: true, false, manual"#,
            r#"spec.artifacts.taskrun.storage: invalid value "s3""#,
            r#"spec.performance.kube-api-qps: invalid value "-1"; allowed: a number >= 0"#,
            r#"spec.performance.buckets: invalid value "11"; allowed: 1 to 10"#,
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
    }

    #[test]
    fn unknown_override_targets_are_rejected() {
        let mut s = spec("ns");
        s.chain.options = Some(crate::crd::AdditionalOptions {
            deployments: Some([("other".to_string(), Default::default())].into()),
            ..Default::default()
        });
        let text = validate(&s).unwrap_err().to_string();
        assert!(
            text.contains(r#"spec.options.deployments: invalid value "other"; allowed: "tekton-chains-controller""#)
        );
    }
}
