//! Leader election through a coordination.k8s.io Lease, so only one replica signs.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::info;

use super::Options;
use super::error::Error;
use crate::tekton::objects::LEASE;

/// Waits until this process holds the Lease; the receiver turns false when it is lost.
/// The renewal task lives in `tasks`, so it stops with the signer.
pub async fn acquire(
    client: &Client,
    opts: &Options,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<watch::Receiver<bool>, Error> {
    let lease_error = |message: String| Error::Lease { namespace: opts.system_namespace.clone(), name: LEASE, message };
    let identity = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "signer".into());
    let identity = format!("{identity}-{:08x}", rand::random::<u32>());
    let secs = opts.lease_duration.as_secs().max(2);
    let manager = LeaseManagerBuilder::new(client.clone(), LEASE)
        .with_namespace(&opts.system_namespace)
        .with_identity(&identity)
        .with_duration(secs)
        .with_grace((secs / 3).max(1))
        .build()
        .await
        .map_err(|e| lease_error(e.to_string()))?;
    let (mut rx, handle) = manager.watch().await;
    // Dropping a JoinHandle does not stop its task: abort it when the signer stops.
    tasks.spawn(async move {
        let _guard = AbortOnDrop(handle);
        std::future::pending::<()>().await
    });
    info!(lease = LEASE, namespace = %opts.system_namespace, identity = %identity, "waiting for the leader Lease");
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return Err(lease_error("the lease manager stopped".into()));
        }
    }
    info!(identity = %identity, "became leader");
    Ok(rx)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
