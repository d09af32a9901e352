//! Keeps the current pipeline: builds a new one on each chains-config
//! change, without a restart. Fails closed: until a valid chains-config is
//! seen, and after it is deleted, nothing is signed and `/readyz` says why.
//! A bad edit keeps the last good config (as upstream does). Every problem
//! is reported once, in the log and as a Warning Event on chains-config
//! naming the key; settings this release cannot serve likewise.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

use super::events;
use super::metrics::Metrics;
use super::pipeline::{Parts, Pipeline};
use crate::config::{ChainsConfig, Transparency};
use crate::tekton::objects::CHAINS_CONFIG;
use crate::telemetry::Probes;

/// What workers sign with: `None` while there is no valid config.
pub type Current = Option<Arc<Pipeline>>;

/// Builds the pipeline of `config` and logs what it refuses.
pub fn build(config: ChainsConfig, parts: &Parts) -> Arc<Pipeline> {
    if config.transparency != Transparency::Off && parts.logs.is_empty() {
        warn!(key = "transparency.enabled", "no transparency log client: signatures are stored but not logged");
    }
    let pipeline = Pipeline::build(Arc::new(config), parts);
    for r in pipeline.refusals() {
        warn!(key = %r.key, value = %r.value, error = %super::pipeline::refused(&r), "runs that need this setting will end signed=failed");
    }
    info!(
        taskrun_format = %pipeline.config.taskrun.format,
        taskrun_storage = ?pipeline.config.taskrun.storage.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "chains-config loaded"
    );
    Arc::new(pipeline)
}

/// Watches chains-config and publishes the pipeline of each good version.
pub struct ConfigWatch {
    pub client: Client,
    pub namespace: String,
    pub parts: Parts,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub probes: Arc<Probes>,
    pub tx: watch::Sender<Current>,
    /// Set once the first listing of chains-config was handled (found or not).
    pub listed: Arc<tokio::sync::Notify>,
}

impl ConfigWatch {
    /// Runs until the watch ends.
    pub async fn run(self) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let wc = watcher::Config::default().fields(&format!("metadata.name={CHAINS_CONFIG}"));
        // Backoff: an unreachable API server is retried, not spun on.
        let mut stream = watcher::watcher(api, wc).default_backoff().boxed();
        // The problem last reported, and the config whose refusals were.
        let mut reported: Option<String> = None;
        let mut announced: Option<ChainsConfig> = None;
        let mut listed = false;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => listed = false,
                Ok(Event::Apply(cm) | Event::InitApply(cm)) => {
                    listed = true;
                    self.apply(&cm, &mut reported, &mut announced).await;
                }
                Ok(Event::InitDone) => {
                    if !listed {
                        self.missing(&mut reported).await;
                    }
                    // notify_one keeps the permit, so a waiter that comes later still wakes.
                    self.listed.notify_one();
                }
                Ok(Event::Delete(_)) => self.missing(&mut reported).await,
                Err(e) => warn!(error = %e, "watching chains-config"),
            }
        }
    }

    fn name(&self) -> String {
        format!("{}/{CHAINS_CONFIG}", self.namespace)
    }

    async fn apply(&self, cm: &ConfigMap, reported: &mut Option<String>, announced: &mut Option<ChainsConfig>) {
        let empty = BTreeMap::new();
        let reference = events::config_reference(&self.namespace, cm.uid(), cm.resource_version());
        let config = match ChainsConfig::parse(cm.data.as_ref().unwrap_or(&empty)) {
            Ok(c) => c,
            Err(errors) => {
                let have = self.tx.borrow().is_some();
                let consequence =
                    if have { "keeping the last good config" } else { "nothing is signed until it is fixed" };
                let problem = format!("invalid chains-config: {errors}; {consequence}");
                warn!(configmap = %self.name(), error = %errors, consequence, "invalid chains-config");
                if !have {
                    self.probes.set_unready(Some(problem.clone()));
                }
                self.report(&reference, "InvalidConfig", problem, reported).await;
                return;
            }
        };
        *reported = None;
        let changed = self.tx.borrow().as_ref().is_none_or(|p| *p.config != config);
        if changed {
            self.tx.send_replace(Some(build(config.clone(), &self.parts)));
        }
        self.probes.set_unready(None);
        self.metrics.config_loaded.set(1);
        if announced.as_ref() == Some(&config) {
            return;
        }
        let refusals = self.tx.borrow().as_ref().map(|p| p.refusals()).unwrap_or_default();
        // One Event for them all: the recorder would fold a second Event with
        // this reason about this config version into the first, note and all.
        if !refusals.is_empty() {
            let each: Vec<String> = refusals.iter().map(|r| super::pipeline::refused(r).to_string()).collect();
            let note = format!("{}; runs that need it end signed=failed", each.join("; "));
            events::publish(
                &self.recorder,
                &self.metrics,
                &reference,
                EventType::Warning,
                "UnsupportedConfig",
                "LoadConfig",
                &note,
            )
            .await;
        }
        // Old names and values still work; one Event names them all.
        if !config.deprecations.is_empty() {
            let each: Vec<String> = config.deprecations.iter().map(ToString::to_string).collect();
            warn!(configmap = %self.name(), deprecated = ?each, "chains-config uses deprecated names");
            let note = format!("{}; they still work", each.join("; "));
            events::publish(
                &self.recorder,
                &self.metrics,
                &reference,
                EventType::Warning,
                "DeprecatedConfig",
                "LoadConfig",
                &note,
            )
            .await;
        }
        *announced = Some(config);
    }

    /// No chains-config: stop signing (fail closed) until one appears.
    async fn missing(&self, reported: &mut Option<String>) {
        let problem = format!("ConfigMap {} does not exist; nothing is signed until it does", self.name());
        warn!(configmap = %self.name(), "chains-config is missing; signing stopped");
        self.tx.send_replace(None);
        self.metrics.config_loaded.set(0);
        self.probes.set_unready(Some(problem.clone()));
        let reference = events::config_reference(&self.namespace, None, None);
        self.report(&reference, "ConfigMissing", problem, reported).await;
    }

    /// One Warning Event per distinct problem.
    async fn report(
        &self,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
        reason: &str,
        problem: String,
        reported: &mut Option<String>,
    ) {
        if reported.as_deref() == Some(problem.as_str()) {
            return;
        }
        events::publish(&self.recorder, &self.metrics, reference, EventType::Warning, reason, "LoadConfig", &problem)
            .await;
        *reported = Some(problem);
    }
}
