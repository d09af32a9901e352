//! The ConfigMaps of an install.
//!
//! chains-config carries only the keys the CR sets (the signer fills in
//! defaults), so keys users patch by hand survive. The other ConfigMaps get
//! their defaults once, at creation, and are never overwritten afterwards.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::overrides::{config_map_override, merge};
use super::{DesiredObject, Mode, core, metadata, names, object};
use crate::crd::TektonChain;
use crate::operator::validate::ValidChain;

pub fn objects(
    chain: &TektonChain,
    valid: &ValidChain,
    labels: &BTreeMap<String, String>,
    owner: &OwnerReference,
    version: &str,
) -> Vec<DesiredObject> {
    let ns = valid.namespace.as_str();
    let buckets = chain.spec.chain.performance.as_ref().and_then(|p| p.buckets);
    let mut leader_election = BTreeMap::new();
    if let Some(b) = buckets {
        leader_election.insert("buckets".to_string(), b.to_string());
    }
    let specs: [(&str, BTreeMap<String, String>, Option<Value>); 5] = [
        (names::CHAINS_CONFIG, valid.config_data.clone(), None),
        (
            names::CONFIG_LOGGING,
            BTreeMap::new(),
            Some(json!({
                "loglevel.controller": "info",
                "loglevel.watcher": "info",
                "zap-logger-config": ZAP_CONFIG,
            })),
        ),
        (names::CONFIG_OBSERVABILITY, BTreeMap::new(), Some(json!({ "metrics.backend-destination": "prometheus" }))),
        (
            names::CONFIG_LEADER_ELECTION,
            leader_election,
            Some(json!({ "lease-duration": "60s", "renew-deadline": "40s", "retry-period": "10s", "buckets": "1" })),
        ),
        (names::CHAINS_INFO, [("version".to_string(), version.to_string())].into(), None),
    ];
    specs
        .into_iter()
        .map(|(name, data, seed)| {
            let mut apply = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(name, Some(ns), labels, owner),
            });
            if !data.is_empty() {
                apply["data"] = json!(data);
            }
            if let Some(o) = config_map_override(&chain.spec.chain, name) {
                merge(&mut apply, &o);
            }
            let mode = match seed {
                Some(seed) => Mode::ApplyWithSeed { apply, seed: json!({ "data": seed }) },
                None => Mode::Apply(apply),
            };
            object(core("ConfigMap", "configmaps"), Some(ns), name, mode, true)
        })
        .collect()
}

const ZAP_CONFIG: &str = r#"{
  "level": "info",
  "development": false,
  "sampling": {"initial": 100, "thereafter": 100},
  "outputPaths": ["stdout"],
  "errorOutputPaths": ["stderr"],
  "encoding": "json",
  "encoderConfig": {"timeKey": "ts", "levelKey": "level", "nameKey": "logger", "callerKey": "caller",
    "messageKey": "msg", "stacktraceKey": "stacktrace", "lineEnding": "", "levelEncoder": "",
    "timeEncoder": "iso8601", "durationEncoder": "", "callerEncoder": ""}
}"#;
