//! The ConfigMaps of an install.
//!
//! chains-config carries only the keys the CR sets (the signer fills in
//! defaults), so keys users patch by hand survive. The other ConfigMaps get
//! their defaults once, at creation, and are never overwritten afterwards.
//! None carries an ownerReference (garbage collection would take users'
//! keys with it): they are [`Ownership::Shared`].

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::object::{CREATED_BY, DesiredObject, FIELD_MANAGER, Mode, Ownership, core, object, shared_metadata};
use super::overrides::{config_map_override, merge};
use crate::crd::TektonChain;
use crate::operator::validate::ValidChain;
use crate::tekton::objects as names;

/// The seven ConfigMaps, with the CR's keys, overrides and seeded defaults.
pub fn objects(
    chain: &TektonChain,
    valid: &ValidChain,
    labels: &BTreeMap<String, String>,
    version: &str,
) -> Vec<DesiredObject> {
    let ns = valid.namespace.as_str();
    let performance = chain.spec.chain.performance.as_ref();
    // StatefulSet mode: one bucket per pod ordinal.
    let buckets = match super::deployment::statefulset_ordinals(chain) {
        true => Some(performance.and_then(|p| p.replicas).unwrap_or(1).max(1)),
        false => performance.and_then(|p| p.buckets),
    };
    let mut leader_election = BTreeMap::new();
    if let Some(b) = buckets {
        leader_election.insert("buckets".to_string(), b.to_string());
    }
    let specs: [(&str, BTreeMap<String, String>, Option<Value>); 5] = [
        (names::CHAINS_CONFIG, valid.config_data.clone(), Some(json!({}))),
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
        (names::CHAINS_INFO, [("version".to_string(), version.to_string())].into(), Some(json!({}))),
    ];
    // The CA bundles: empty, with the marks that ask OpenShift's injectors to
    // fill them; a CA of your own goes in with `options.configMaps`.
    let ca_bundles = [
        (names::TRUSTED_CA_BUNDLE, json!({ "labels": { names::INJECT_TRUSTED_CABUNDLE: "true" } })),
        (names::SERVICE_CA_BUNDLE, json!({ "annotations": { names::INJECT_SERVICE_CABUNDLE: "true" } })),
    ];
    let marks = |name: &str| ca_bundles.iter().find(|(n, _)| *n == name).map(|(_, m)| m.clone());
    let ca_specs = ca_bundles.iter().map(|(name, _)| (*name, BTreeMap::new(), None));
    specs
        .into_iter()
        .chain(ca_specs)
        .map(|(name, data, defaults)| {
            let mut apply = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": shared_metadata(name, ns, labels),
            });
            if let Some(m) = marks(name) {
                merge(&mut apply["metadata"], &m);
            }
            if !data.is_empty() {
                apply["data"] = json!(data);
            }
            if let Some(o) = config_map_override(&chain.spec.chain, name) {
                merge(&mut apply, &o);
            }
            // Defaults, and the mark that the operator created it, go in once.
            let mut seed = json!({ "metadata": { "annotations": { CREATED_BY: FIELD_MANAGER } } });
            if let Some(data) = defaults.filter(|d| d.as_object().is_some_and(|o| !o.is_empty())) {
                seed["data"] = data;
            }
            object(
                core("ConfigMap", "configmaps"),
                Some(ns),
                name,
                Mode::ApplyWithSeed { apply, seed },
                Ownership::Shared,
            )
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
