//! From watch events to workers: the watch settles most events from metadata
//! (our own patch's echo, runs still going), queues finished unsigned runs by
//! key, and sends finalizer changes to one bounded task. Workers take runs
//! from the queue and read each one from the watch's latest object or with
//! one GET.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, GetParams};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tracing::warn;

use super::Signer;
use super::queue::{Idle, Job, Next, RunKey};
use super::worker::{self, Outcome};
use crate::formats::RunKind;
use crate::tekton::annotations::{SIGNED, is_settled};

/// Watch pages are read this many runs at a time, which bounds the memory of
/// the initial list of a large cluster.
const LIST_PAGE: u32 = 100;
/// Finalizer patches in flight at once.
const FINALIZER_CONCURRENCY: usize = 4;

/// A finalizer change for one run version.
pub struct FinalizerOp {
    kind: RunKind,
    obj: serde_json::Value,
    present: bool,
}

impl Signer {
    /// Watches one kind of run and hands each event to [`Signer::observe`].
    pub(super) async fn watch(
        self: Arc<Self>,
        kind: RunKind,
        api: Api<DynamicObject>,
        fin: mpsc::UnboundedSender<FinalizerOp>,
    ) {
        let mut stream = watcher::watcher(api, watcher::Config::default().page_size(LIST_PAGE)).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Apply(o) | Event::InitApply(o)) => self.observe(kind, o, &fin),
                Ok(_) => {}
                Err(e) => warn!(kind = kind.kind(), error = %e, "watching runs"),
            }
        }
    }

    /// Decides what a run needs from its latest version, from metadata and
    /// the Succeeded condition alone.
    fn observe(&self, kind: RunKind, o: DynamicObject, fin: &mpsc::UnboundedSender<FinalizerOp>) {
        let has_fin = o.finalizers().iter().any(|f| f == kind.finalizer());
        let deleting = o.metadata.deletion_timestamp.is_some();
        let settled = is_settled(o.annotations().get(SIGNED).map(String::as_str));
        let finished = crate::formats::run::finished(&o.data["status"]).is_some();
        if settled || !finished {
            // Never hold a run back: drop the finalizer once signed, failed, or deleted unfinished.
            let present = if has_fin && (settled || deleting) {
                false
            } else if !has_fin && !deleting && !settled {
                true
            } else {
                return;
            };
            let uid = o.uid().unwrap_or_default();
            if self.finalizing.lock().expect("finalizing lock").insert(uid) {
                // Only the metadata: what the conditional patch needs.
                let obj = serde_json::json!({ "metadata": o.metadata });
                let _ = fin.send(FinalizerOp { kind, obj, present });
            }
            return;
        }
        let key = RunKey {
            kind,
            namespace: o.namespace().unwrap_or_default(),
            name: o.name_any(),
            uid: o.uid().unwrap_or_default(),
        };
        let finished_ms = o.data["status"]["completionTime"]
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .unwrap_or_else(k8s_openapi::jiff::Timestamp::now)
            .as_millisecond();
        // Kept as JSON: a third of the parsed object's memory, or less.
        let bytes = serde_json::to_vec(&o).unwrap_or_default();
        let size = bytes.len();
        let mut queue = self.queue.lock().expect("queue lock");
        let new = queue.offer(key, finished_ms, bytes, size);
        self.metrics.queue_depth.set(queue.len() as i64);
        drop(queue);
        if new {
            self.notify.notify_one();
        }
    }

    /// Applies finalizer changes, a few at a time, until the channel closes.
    pub(super) async fn finalizers(self: Arc<Self>, rx: mpsc::UnboundedReceiver<FinalizerOp>) {
        let mut rx = rx;
        futures::stream::poll_fn(|cx| rx.poll_recv(cx))
            .for_each_concurrent(FINALIZER_CONCURRENCY, |op| {
                let me = self.clone();
                async move {
                    worker::set_finalizer(&me.ctx.client, &me.metrics, op.kind, &op.obj, op.present).await;
                    let uid = op.obj["metadata"]["uid"].as_str().unwrap_or_default();
                    me.finalizing.lock().expect("finalizing lock").remove(uid);
                }
            })
            .await
    }

    /// Takes runs from the queue and signs them, forever.
    pub(super) async fn worker(self: Arc<Self>) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let popped = self.queue.lock().expect("queue lock").pop(Instant::now());
            match popped {
                Ok(job) => self.work(job).await,
                Err(Idle { until: Some(at) }) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                Err(Idle { until: None }) => notified.await,
            }
        }
    }

    /// Signs one run and settles it in the queue.
    async fn work(&self, job: Job<Vec<u8>>) {
        let started = Instant::now();
        let key = job.key;
        let obj = match job.obj {
            Some(o) => Ok(serde_json::from_slice(&o).ok()),
            None => self.read(&key).await,
        };
        let next = match obj {
            Ok(Some(obj)) => match worker::process(&self.ctx, key.kind, &obj).await {
                Outcome::Signed | Outcome::Failed | Outcome::Skipped => Next::Done,
                Outcome::Conflict => Next::Again,
                Outcome::Retry(d) | Outcome::Wait(d) => Next::At(Instant::now() + d),
            },
            Ok(None) => Next::Done,
            Err(()) => Next::At(Instant::now() + Duration::from_secs(2)),
        };
        self.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
        let mut queue = self.queue.lock().expect("queue lock");
        queue.finish(&key.uid, next);
        self.metrics.queue_depth.set(queue.len() as i64);
        drop(queue);
        if next == Next::Again {
            self.notify.notify_one();
        }
    }

    /// One GET of a queued run, served from the API server's watch cache
    /// (cheap; a stale version only costs a conditional-patch conflict and a
    /// second look); `None` when it is gone (or replaced by another run of
    /// the same name).
    async fn read(&self, key: &RunKey) -> Result<Option<serde_json::Value>, ()> {
        let api = worker::runs(&self.ctx.client, key.kind, &key.namespace);
        match api.get_with(&key.name, &GetParams::any()).await {
            Ok(o) if o.uid().as_deref() == Some(key.uid.as_str()) => Ok(serde_json::to_value(o).ok()),
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => {
                warn!(namespace = %key.namespace, name = %key.name, uid = %key.uid, error = %e, "reading run");
                Err(())
            }
        }
    }
}
