//! From watch events to workers: the watch settles most events from metadata
//! (our own patch's echo, runs still going), queues finished unsigned runs by
//! key, and sends finalizer changes to one bounded task. Workers take runs
//! from the queue and read each one from the watch's latest object or with
//! one GET.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, GetParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tracing::{error, warn};

use super::Signer;
use super::error::Error;
use super::policy::{self, Facts, Finalizer};
use super::queue::{Idle, Job, Next, RunKey};
use super::worker::{self, Outcome};
use crate::formats::{Run, RunKind, run};
use crate::tekton::annotations::SIGNED;

/// Watch pages are read this many runs at a time, which bounds the memory of
/// the initial list of a large cluster.
const LIST_PAGE: u32 = 100;
/// How long the watches wait after a bucket is gained before listing again,
/// so the gains of one election round cost one list.
const RELIST_AFTER_GAIN: Duration = Duration::from_millis(300);
/// Finalizer patches in flight at once.
const FINALIZER_CONCURRENCY: usize = 4;

/// A finalizer change for one run version.
pub struct FinalizerOp {
    kind: RunKind,
    obj: serde_json::Value,
    change: Finalizer,
}

impl Signer {
    /// Watches one kind of run and hands each event to [`Signer::observe`].
    pub(super) async fn watch(
        self: Arc<Self>,
        kind: RunKind,
        api: Api<DynamicObject>,
        fin: mpsc::UnboundedSender<FinalizerOp>,
    ) {
        // Backoff: an unreachable API server is retried, not spun on.
        let wc = watcher::Config::default().page_size(LIST_PAGE);
        let mut gains = self.held.get().map(|h| h.gains());
        loop {
            let mut stream = watcher::watcher(api.clone(), wc.clone()).default_backoff().boxed();
            loop {
                let gained = async {
                    let changed = match gains.as_mut() {
                        Some(g) => g.changed().await.is_ok(),
                        None => false,
                    };
                    if !changed {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    ev = stream.next() => match ev {
                        Some(Ok(Event::Apply(o) | Event::InitApply(o))) => self.observe(kind, o, &fin),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => warn!(kind = kind.kind(), error = %e, "watching runs"),
                        None => return,
                    },
                    _ = gained => {
                        // A bucket was gained: list again (once for a burst of
                        // gains) to find its runs.
                        tokio::time::sleep(RELIST_AFTER_GAIN).await;
                        if let Some(g) = gains.as_mut() {
                            g.borrow_and_update();
                        }
                        break;
                    }
                }
            }
        }
    }

    /// Decides what a run needs from its latest version ([`policy::seen`]),
    /// from metadata and the Succeeded condition alone.
    fn observe(&self, kind: RunKind, o: DynamicObject, fin: &mpsc::UnboundedSender<FinalizerOp>) {
        let uid = o.uid().unwrap_or_default();
        // Another replica's bucket: its holder does everything.
        if !self.holds(&uid) {
            return;
        }
        let state = self.ctx.memory.get(&uid);
        let facts = Facts {
            finished: run::finished(&o.data["status"]).is_some(),
            signed: o.annotations().get(SIGNED).map(String::as_str),
            has_finalizer: o.finalizers().iter().any(|f| f == kind.finalizer()),
            deleting: o.metadata.deletion_timestamp.is_some(),
            gave_up: state.gave_up,
            verified: state.verified.as_deref() == o.resource_version().as_deref(),
            verify_before_skip: self.ctx.pipeline.borrow().as_ref().is_some_and(|p| p.config.verify_before_skip),
            ours: self
                .ctx
                .pipeline
                .borrow()
                .as_ref()
                .is_none_or(|p| p.config.takes_managed_by(run::managed_by(&o.data))),
        };
        let seen = policy::seen(&facts);
        if seen.queue {
            self.enqueue(kind, &o);
        }
        if let Some(change) = seen.finalizer
            && self.finalizing.lock().insert(uid)
        {
            // Only the metadata: what the conditional patch needs.
            let obj = serde_json::json!({ "metadata": o.metadata });
            let _ = fin.send(FinalizerOp { kind, obj, change });
        }
    }

    /// Queues a run (or refreshes the object of a queued one).
    fn enqueue(&self, kind: RunKind, o: &DynamicObject) {
        let key = RunKey {
            kind,
            namespace: o.namespace().unwrap_or_default(),
            name: o.name_any(),
            uid: o.uid().unwrap_or_default(),
        };
        let finished_ms =
            run::completion_time(&o.data["status"]).unwrap_or_else(k8s_openapi::jiff::Timestamp::now).as_millisecond();
        // Kept as JSON: a third of the parsed object's memory, or less.
        let bytes = serde_json::to_vec(o).unwrap_or_default();
        let size = bytes.len();
        let mut queue = self.queue.lock();
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
                    worker::set_finalizer(&me.ctx.client, &me.metrics, op.kind, &op.obj, op.change).await;
                    me.finalizing.lock().remove(Run::new(op.kind, &op.obj).uid());
                }
            })
            .await
    }

    /// Takes runs from the queue and signs them, forever; while there is no
    /// valid config, it waits (runs stay queued).
    pub(super) async fn worker(self: Arc<Self>) {
        let mut config = self.ctx.pipeline.clone();
        loop {
            while config.borrow_and_update().is_none() {
                if config.changed().await.is_err() {
                    return;
                }
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let popped = self.queue.lock().pop(Instant::now());
            match popped {
                Ok(job) => self.work(job).await,
                Err(Idle { until: Some(at) }) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = config.changed() => {}
                    }
                }
                Err(Idle { until: None }) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = config.changed() => {}
                    }
                }
            }
        }
    }

    /// Signs one run and settles it in the queue.
    async fn work(&self, job: Job<Vec<u8>>) {
        let started = Instant::now();
        let key = job.key;
        if !self.holds(&key.uid) {
            // The bucket went to another replica; a regain lists it again.
            self.queue.lock().finish(&key.uid, Next::Done);
            return;
        }
        let obj = match job.obj {
            Some(o) => Ok(serde_json::from_slice(&o).ok()),
            None => self.read(&key).await,
        };
        let next = match obj {
            Ok(Some(obj)) => match self.contained(&key, &obj).await {
                Outcome::Signed | Outcome::Failed | Outcome::Skipped => Next::Done,
                Outcome::Retry(d) | Outcome::Wait(d) => Next::At(Instant::now() + d),
            },
            Ok(None) => Next::Done,
            Err(()) => Next::At(Instant::now() + Duration::from_secs(2)),
        };
        self.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
        let mut queue = self.queue.lock();
        queue.finish(&key.uid, next);
        self.metrics.queue_depth.set(queue.len() as i64);
    }

    /// Signs one run within the job deadline, containing any panic: a run
    /// whose signing panics ends `signed=failed` with an Event naming it and
    /// the cause, and the worker goes on.
    async fn contained(&self, key: &RunKey, obj: &serde_json::Value) -> Outcome {
        let deadline = self.job_deadline;
        let job = tokio::time::timeout(deadline, worker::process(&self.ctx, key.kind, obj));
        let cause = match AssertUnwindSafe(job).catch_unwind().await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(_)) => {
                warn!(namespace = %key.namespace, name = %key.name, uid = %key.uid, secs = deadline.as_secs(), "signing took too long; stopped");
                Error::Deadline { run: describe(key), secs: deadline.as_secs() }
            }
            Err(panic) => {
                self.metrics.panics.inc();
                let message = panic_message(panic.as_ref());
                error!(namespace = %key.namespace, name = %key.name, uid = %key.uid, panic = %message, "signing panicked; marking the run failed");
                Error::Internal { run: describe(key), message: format!("panic: {message}") }
            }
        };
        let settle = worker::abandon(&self.ctx, key.kind, obj, cause);
        match AssertUnwindSafe(settle).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry(policy::MAX_BACKOFF),
        }
    }

    /// One GET of a queued run (within the job deadline), served from the API server's watch cache
    /// (cheap; a stale version only costs a conditional-patch conflict and a
    /// second look); `None` when it is gone (or replaced by another run of
    /// the same name).
    async fn read(&self, key: &RunKey) -> Result<Option<serde_json::Value>, ()> {
        let api = worker::runs(&self.ctx.client, key.kind, &key.namespace);
        let got = tokio::time::timeout(self.job_deadline, api.get_with(&key.name, &GetParams::any())).await;
        let Ok(got) = got else {
            warn!(namespace = %key.namespace, name = %key.name, uid = %key.uid, "reading run: timed out");
            return Err(());
        };
        match got {
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

/// `Kind namespace/name` of a queued run.
fn describe(key: &RunKey) -> String {
    format!("{} {}/{}", key.kind.kind(), key.namespace, key.name)
}

/// The text of a panic payload (a `&str` or `String`; anything else unnamed).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    crate::http::excerpt(text.as_bytes(), 300)
}
