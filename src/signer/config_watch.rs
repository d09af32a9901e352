//! Keeps the current pipeline: builds a new one on each chains-config change,
//! without a restart, and keeps the last good one when a new config is
//! invalid. Settings this release cannot serve are reported once per change,
//! in the log and as an Event on chains-config.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use tokio::sync::watch;
use tracing::{info, warn};

use super::pipeline::{Parts, Pipeline};
use crate::config::{ChainsConfig, Transparency};
use crate::tekton::objects::CHAINS_CONFIG;

/// Parses ConfigMap data, logging which key was bad; `None` keeps the old config.
pub fn parse(data: &BTreeMap<String, String>, namespace: &str) -> Option<ChainsConfig> {
    match ChainsConfig::parse(data) {
        Ok(c) => Some(c),
        Err(e) => {
            warn!(configmap = %format!("{namespace}/{CHAINS_CONFIG}"), error = %e, "invalid chains-config; keeping the last good config");
            None
        }
    }
}

/// Builds the pipeline of `config` and logs what it refuses.
pub fn build(config: ChainsConfig, parts: &Parts) -> Arc<Pipeline> {
    if config.transparency != Transparency::Off && parts.log.is_none() && parts.rekor.is_none() {
        warn!(key = "transparency.enabled", "no transparency log client: signatures are stored but not logged");
    }
    let pipeline = Pipeline::build(Arc::new(config), parts);
    for r in pipeline.refusals() {
        warn!(key = %r.key, value = %r.value, error = %r.error(), "runs that need this setting will end signed=failed");
    }
    info!(
        taskrun_format = %pipeline.config.taskrun.format,
        taskrun_storage = ?pipeline.config.taskrun.storage.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "chains-config loaded"
    );
    Arc::new(pipeline)
}

/// Watches chains-config in `namespace` and publishes the pipeline of each good version.
pub async fn watch_config(
    client: Client,
    namespace: String,
    parts: Parts,
    recorder: Recorder,
    tx: watch::Sender<Arc<Pipeline>>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let wc = watcher::Config::default().fields(&format!("metadata.name={CHAINS_CONFIG}"));
    let mut stream = watcher::watcher(api, wc).boxed();
    // The config whose refusals were last reported as Events (the initial
    // pipeline is built before the watch starts, so it is reported here too).
    let mut announced: Option<ChainsConfig> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(cm) | Event::InitApply(cm)) => {
                let Some(c) = parse(cm.data.as_ref().unwrap_or(&BTreeMap::new()), &namespace) else { continue };
                if *tx.borrow().config != c {
                    tx.send_replace(build(c.clone(), &parts));
                }
                if announced.as_ref() == Some(&c) {
                    continue;
                }
                let refusals = tx.borrow().refusals();
                for r in refusals {
                    let ev = KubeEvent {
                        type_: EventType::Warning,
                        reason: "UnsupportedConfig".into(),
                        note: Some(format!("{}; runs that need it end signed=failed", r.error())),
                        action: "LoadConfig".into(),
                        secondary: None,
                    };
                    if let Err(e) = recorder.publish(&ev, &cm.object_ref(&())).await {
                        warn!(error = %e, "recording event");
                    }
                }
                announced = Some(c);
            }
            Ok(Event::Delete(_)) => {
                tx.send_replace(build(ChainsConfig::default(), &parts));
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "watching chains-config"),
        }
    }
}
