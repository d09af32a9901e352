//! Keeps the current chains-config: applies changes without a restart, and
//! keeps the last good config when a new one is invalid.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::ChainsConfig;

/// Name of the ConfigMap.
pub const CHAINS_CONFIG: &str = "chains-config";

/// Parses ConfigMap data, logging which key was bad; `None` keeps the old config.
pub fn apply(data: &BTreeMap<String, String>, namespace: &str) -> Option<Arc<ChainsConfig>> {
    match ChainsConfig::parse(data) {
        Ok(c) => {
            if c.transparency != crate::config::Transparency::Off {
                warn!(
                    key = "transparency.enabled",
                    "transparency log upload (Rekor) is not supported in this release: signatures are stored but not logged"
                );
            }
            Some(Arc::new(c))
        }
        Err(e) => {
            warn!(configmap = %format!("{namespace}/{CHAINS_CONFIG}"), error = %e, "invalid chains-config; keeping the last good config");
            None
        }
    }
}

/// Watches chains-config in `namespace` and publishes each good version.
pub async fn watch_config(client: Client, namespace: String, tx: watch::Sender<Arc<ChainsConfig>>) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let wc = watcher::Config::default().fields(&format!("metadata.name={CHAINS_CONFIG}"));
    let mut stream = watcher::watcher(api, wc).boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(cm) | Event::InitApply(cm)) => {
                if let Some(c) = apply(&cm.data.unwrap_or_default(), &namespace).filter(|c| *tx.borrow() != *c) {
                    info!(taskrun_format = %c.taskrun.format, taskrun_storage = ?c.taskrun.storage, "chains-config loaded");
                    tx.send_replace(c);
                }
            }
            Ok(Event::Delete(_)) => {
                tx.send_replace(Arc::new(ChainsConfig::default()));
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "watching chains-config"),
        }
    }
}
