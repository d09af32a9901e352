//! Bucket leader election on coordination.k8s.io Leases (one per bucket):
//! every retry period the Leases are read, [`plan::plan`] decides, and its
//! acts are written as merge patches carrying the read resourceVersion, so
//! two replicas never both win one Lease. kube-lease-manager handles one
//! Lease per manager and has no notion of a share, hence this.

pub mod plan;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::{debug, info, warn};

use super::Options;
use super::buckets::{Election, Held, lease_name};
use super::error::Error;
use crate::tekton::annotations::BUCKET_WANTED_BY;
use plan::{Act, Observed, Read, Round};

/// The election of one replica.
pub struct Elector {
    pub api: Api<Lease>,
    pub identity: String,
    pub election: Election,
    /// Replicas expected (`--replicas`).
    pub replicas: u32,
    pub held: Arc<Held>,
}

/// The buckets this replica signs, and the election that keeps them:
/// none without leader election (every run is signed); a fixed bucket, the
/// pod's ordinal, under `STATEFUL_CONTROLLER_ORDINAL` (upstream's
/// StatefulSet mode: no Leases); else bucket Leases. The settings are the
/// flags with the leader-election ConfigMap over them.
pub async fn start(client: &kube::Client, opts: &Options) -> Result<(Arc<Held>, Option<Arc<Elector>>), Error> {
    if !opts.leader_election {
        return Ok((Arc::new(Held::all()), None));
    }
    let ns = &opts.system_namespace;
    let cm_name = &opts.leader_election_config;
    let bad = |message: String| Error::Lease { namespace: ns.clone(), name: cm_name.clone(), message };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let defaults = Election::from_duration(opts.buckets, opts.lease_duration.max(Duration::from_secs(3)));
    let election = match cms.get_opt(cm_name).await.map_err(|e| bad(format!("reading the ConfigMap: {e}")))? {
        Some(cm) => defaults.with_config(&cm.data.unwrap_or_default()).map_err(|p| bad(p.join("; ")))?,
        None => defaults,
    };
    if let Ok(value) = std::env::var("STATEFUL_CONTROLLER_ORDINAL") {
        let b = super::buckets::ordinal(&value, election.buckets).map_err(bad)?;
        info!(bucket = b, buckets = election.buckets, "StatefulSet ordinal: signing one bucket, no Leases");
        return Ok((Arc::new(Held::only(election.buckets, b)), None));
    }
    let held = Arc::new(Held::none(election.buckets));
    let elector = Elector {
        api: Api::namespaced(client.clone(), ns),
        identity: identity(),
        election,
        replicas: opts.replicas,
        held: held.clone(),
    };
    Ok((held, Some(Arc::new(elector))))
}

/// A unique identity: the pod name and a random suffix (a restarted
/// container is a new holder).
pub fn identity() -> String {
    let pod = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "signer".into());
    format!("{pod}-{:08x}", rand::random::<u32>())
}

impl Elector {
    fn names(&self) -> Vec<String> {
        let n = self.election.buckets;
        (0..n).map(|b| lease_name(b, n)).collect()
    }

    /// Runs rounds forever (the task is dropped to stop; then call [`Elector::release`]).
    pub async fn run(self: Arc<Self>) {
        info!(identity = %self.identity, buckets = self.election.buckets, replicas = self.replicas, "bucket leader election started");
        let mut seen = Observed::default();
        let started = Instant::now();
        loop {
            // The hint holds until the others have had a lease duration to show up.
            let replicas = if started.elapsed() < self.election.lease_duration { self.replicas } else { 1 };
            self.round(&mut seen, replicas).await;
            // A little jitter, so replicas started together do not race on every Lease.
            let jitter = Duration::from_millis(rand::random::<u64>() % 200);
            tokio::time::sleep(self.election.retry_period + jitter).await;
        }
    }

    async fn round(&self, seen: &mut Observed, replicas: u32) {
        let names = self.names();
        let got = futures::future::join_all(names.iter().map(|n| self.api.get_opt(n))).await;
        let mut leases = Vec::with_capacity(got.len());
        let mut reads = Vec::with_capacity(got.len());
        for (name, got) in names.iter().zip(got) {
            reads.push(match &got {
                Ok(Some(l)) => read(l),
                Ok(None) => Read::Absent,
                Err(e) => {
                    warn!(lease = %name, error = %e, "reading a bucket Lease");
                    Read::Unknown
                }
            });
            leases.push(got.ok().flatten());
        }
        let now = Instant::now();
        // A Lease someone else holds now is not ours, whatever we thought.
        for (b, r) in (0u32..).zip(&reads) {
            if let Read::Lease { holder, .. } = r
                && holder.as_deref() != Some(self.identity.as_str())
                && self.held.holds_bucket(b, now)
            {
                warn!(bucket = b, holder = ?holder, "lost a bucket Lease");
                self.held.set(b, None);
            }
        }
        let round = Round { me: &self.identity, now, lease_duration: self.election.lease_duration, replicas };
        // Each act touches its own Lease: all of a round's go out together.
        let acts = plan::plan(&round, &reads, seen).into_iter().map(|act| {
            let b = act.bucket() as usize;
            let (name, lease) = (&names[b], leases.get(b).and_then(Option::as_ref));
            async move {
                if let Err(e) = self.act(act, name, lease).await {
                    debug!(lease = %name, act = ?act, error = %e, "bucket Lease write refused");
                }
            }
        });
        futures::future::join_all(acts).await;
    }

    async fn act(&self, act: Act, name: &str, lease: Option<&Lease>) -> Result<(), kube::Error> {
        let started = Instant::now();
        let stamp = json!(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        let secs = self.election.lease_duration.as_secs() as i32;
        let rv = lease.and_then(|l| l.metadata.resource_version.clone());
        let wanted =
            lease.is_some_and(|l| l.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(BUCKET_WANTED_BY)));
        let clear_wanted = if wanted { json!({ BUCKET_WANTED_BY: null }) } else { json!({}) };
        let b = act.bucket();
        let patch = match act {
            Act::Take(_) if lease.is_none() => {
                let new: Lease = serde_json::from_value(json!({
                    "metadata": { "name": name },
                    "spec": { "holderIdentity": self.identity, "leaseDurationSeconds": secs,
                              "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0 },
                }))
                .map_err(kube::Error::SerdeError)?;
                self.api.create(&PostParams::default(), &new).await?;
                self.gain(b, started);
                return Ok(());
            }
            Act::Take(_) => {
                let transitions = lease.and_then(|l| l.spec.as_ref()?.lease_transitions).unwrap_or(0);
                json!({ "metadata": { "resourceVersion": rv, "annotations": clear_wanted },
                        "spec": { "holderIdentity": self.identity, "leaseDurationSeconds": secs,
                                  "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": transitions + 1 } })
            }
            Act::Renew(_) => json!({ "metadata": { "resourceVersion": rv, "annotations": clear_wanted },
                                     "spec": { "renewTime": stamp, "leaseDurationSeconds": secs } }),
            Act::Release(_) => {
                // Stop signing first, then hand over.
                self.held.set(b, None);
                info!(bucket = b, "handing a bucket over to a replica short of its share");
                json!({ "metadata": { "resourceVersion": rv, "annotations": clear_wanted },
                        "spec": { "holderIdentity": null, "renewTime": stamp } })
            }
            Act::Want(_) => json!({ "metadata": { "annotations": { BUCKET_WANTED_BY: self.identity } } }),
        };
        self.api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        if matches!(act, Act::Take(_) | Act::Renew(_)) {
            self.gain(b, started);
        }
        Ok(())
    }

    /// Holds `b` until the renew deadline, counted from before the write.
    fn gain(&self, b: u32, started: Instant) {
        if !self.held.holds_bucket(b, Instant::now()) {
            info!(bucket = b, identity = %self.identity, "holding a bucket");
        }
        self.held.set(b, Some(started + self.election.renew_deadline));
    }

    /// Lets every held bucket go (on shutdown), so others take them at once.
    pub async fn release(&self) {
        let now = Instant::now();
        let names = self.names();
        let mut releases = Vec::new();
        for b in self.held.held(now) {
            self.held.set(b, None);
            let name = names[b as usize].clone();
            releases.push(async move {
                let Ok(Some(l)) = self.api.get_opt(&name).await else { return };
                if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) != Some(self.identity.as_str()) {
                    return;
                }
                let patch = json!({ "metadata": { "resourceVersion": l.metadata.resource_version },
                                    "spec": { "holderIdentity": null } });
                if let Err(e) = self.api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    warn!(lease = %name, error = %e, "releasing a bucket Lease");
                }
            });
        }
        let count = releases.len();
        futures::future::join_all(releases).await;
        info!(buckets = count, "released the bucket Leases");
    }
}

/// What the plan needs of a Lease.
fn read(l: &Lease) -> Read {
    let spec = l.spec.as_ref();
    let renew = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0.to_string());
    let wanted_by = l.metadata.annotations.as_ref().and_then(|a| a.get(BUCKET_WANTED_BY)).cloned();
    Read::Lease { holder: spec.and_then(|s| s.holder_identity.clone()), renew, wanted_by }
}
