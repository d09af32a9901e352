//! Registry credentials of a run's ServiceAccount: its `secrets`, then its
//! `imagePullSecrets`, read from the API server and kept for a short time
//! per ServiceAccount, so a burst of runs reads them once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::OnceCell;
use tracing::warn;

use super::auth::{self, Credential};
use crate::storage::StorageError;

/// How long credentials read for one ServiceAccount are used.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

type Creds = Arc<Vec<Credential>>;

struct Slot {
    read_at: Instant,
    creds: OnceCell<Creds>,
}

/// Reads and caches ServiceAccount credentials.
pub struct Secrets {
    client: kube::Client,
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    /// API reads of ServiceAccounts and Secrets.
    reads: Counter,
}

impl Secrets {
    /// Reads through `client`, counting every GET in `reads`.
    pub fn new(client: kube::Client, reads: Counter) -> Self {
        Self { client, slots: Mutex::default(), reads }
    }

    /// The credentials of ServiceAccount `namespace/name`, in order: its
    /// `secrets`, then its `imagePullSecrets`. A missing ServiceAccount or
    /// Secret contributes none (pushes then go anonymously).
    pub async fn for_account(&self, namespace: &str, name: &str) -> Result<Creds, StorageError> {
        let slot = {
            let mut slots = self.slots.lock().expect("secrets cache lock");
            let now = Instant::now();
            slots.retain(|_, s| now.duration_since(s.read_at) < CACHE_TTL);
            slots
                .entry((namespace.to_string(), name.to_string()))
                .or_insert_with(|| Arc::new(Slot { read_at: now, creds: OnceCell::new() }))
                .clone()
        };
        // One read per ServiceAccount at a time; a failed read is not kept.
        slot.creds.get_or_try_init(|| self.read(namespace, name)).await.cloned()
    }

    async fn read(&self, namespace: &str, name: &str) -> Result<Creds, StorageError> {
        let err = |what: String, e: kube::Error| StorageError {
            target: format!("ServiceAccount {namespace}/{name}"),
            message: format!("reading {what}: {e}"),
            status: match &e {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            retryable: true,
        };
        self.reads.inc();
        let sa = match Api::<ServiceAccount>::namespaced(self.client.clone(), namespace).get_opt(name).await {
            Ok(Some(sa)) => sa,
            Ok(None) => return Ok(Arc::default()),
            Err(e) => return Err(err("the ServiceAccount".into(), e)),
        };
        let mut names: Vec<String> = sa.secrets.unwrap_or_default().into_iter().filter_map(|r| r.name).collect();
        names.extend(sa.image_pull_secrets.unwrap_or_default().into_iter().map(|r| r.name));
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        let api = Api::<Secret>::namespaced(self.client.clone(), namespace);
        let mut out = Vec::new();
        for secret in names {
            self.reads.inc();
            let s = match api.get_opt(&secret).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    warn!(
                        namespace,
                        service_account = name,
                        secret,
                        "ServiceAccount names a Secret that does not exist"
                    );
                    continue;
                }
                Err(e) => return Err(err(format!("Secret {secret}"), e)),
            };
            let data = s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            let (creds, problems) = auth::parse_secret(&secret, s.type_.as_deref().unwrap_or_default(), &data);
            for p in problems {
                warn!(namespace, service_account = name, problem = p, "unusable registry credentials");
            }
            out.extend(creds);
        }
        Ok(Arc::new(out))
    }
}
