//! Registry credentials of a run's ServiceAccount: its `secrets`, then its
//! `imagePullSecrets`, read from the API server and kept for a short time
//! per ServiceAccount, so a burst of runs reads them once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::OnceCell;
use tracing::warn;
use zeroize::Zeroize as _;

use super::auth::{self, Credential};
use crate::remote::RemoteError;

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
    pub async fn for_account(&self, namespace: &str, name: &str) -> Result<Creds, RemoteError> {
        let slot = {
            let mut slots = self.slots.lock();
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

    async fn read(&self, namespace: &str, name: &str) -> Result<Creds, RemoteError> {
        let err = |what: String, e: kube::Error| RemoteError {
            target: format!("ServiceAccount {namespace}/{name}"),
            message: format!("reading {what}: {e}"),
            status: match &e {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            retryable: true,
            unavailable: !matches!(&e, kube::Error::Api(s) if s.code < 500),
        };
        self.reads.inc();
        let sa = match Api::<ServiceAccount>::namespaced(self.client.clone(), namespace).get_opt(name).await {
            Ok(Some(sa)) => sa,
            Ok(None) => return Ok(Arc::default()),
            Err(e) => return Err(err("the ServiceAccount".into(), e)),
        };
        // `secrets` first, then `imagePullSecrets` (which are docker configs by contract).
        let pull: std::collections::HashSet<String> =
            sa.image_pull_secrets.unwrap_or_default().into_iter().map(|r| r.name).collect();
        let mut names: Vec<String> = sa.secrets.unwrap_or_default().into_iter().filter_map(|r| r.name).collect();
        names.extend(pull.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        let api = Api::<Secret>::namespaced(self.client.clone(), namespace);
        let mut out = Vec::new();
        for secret in names {
            // The type first, from a Table (no data crosses the wire): SSH,
            // token, TLS and other Secrets are never read.
            self.reads.inc();
            let type_ = match self.secret_type(namespace, &secret).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    warn!(
                        namespace,
                        service_account = name,
                        secret,
                        "ServiceAccount names a Secret that does not exist"
                    );
                    continue;
                }
                Err(e) => return Err(err(format!("the type of Secret {secret}"), e)),
            };
            if !wanted(&type_, pull.contains(&secret)) {
                continue;
            }
            self.reads.inc();
            let s = match api.get_opt(&secret).await {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => return Err(err(format!("Secret {secret}"), e)),
            };
            let mut data: std::collections::BTreeMap<String, Vec<u8>> =
                s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            let (creds, problems) = auth::parse_secret(&secret, s.type_.as_deref().unwrap_or_default(), &data);
            data.values_mut().for_each(|v| v.zeroize());
            for p in problems {
                warn!(namespace, service_account = name, problem = p, "unusable registry credentials");
            }
            out.extend(creds);
        }
        Ok(Arc::new(out))
    }

    /// A Secret's `type`, read as a Table (names and types, never data);
    /// `None` when the Secret does not exist.
    async fn secret_type(&self, namespace: &str, name: &str) -> Result<Option<String>, kube::Error> {
        let uri = format!("/api/v1/namespaces/{namespace}/secrets/{name}");
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        match self.client.request::<serde_json::Value>(req).await {
            Ok(table) => Ok(Some(table_type(&table))),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether a Secret of `type_` may hold registry credentials worth reading:
/// docker config types, or an `Opaque` one listed as an image pull secret
/// (what `oc create secret generic --from-file=.dockerconfigjson` makes).
pub fn wanted(type_: &str, image_pull_secret: bool) -> bool {
    match type_ {
        auth::DOCKER_CONFIG_JSON | auth::DOCKER_CFG => true,
        "Opaque" | "" => image_pull_secret,
        _ => false,
    }
}

/// The `Type` cell of a one-row Table (empty when absent).
pub fn table_type(table: &serde_json::Value) -> String {
    let columns = table.get("columnDefinitions").and_then(|c| c.as_array());
    let index = columns.and_then(|c| c.iter().position(|d| d.get("name").and_then(|n| n.as_str()) == Some("Type")));
    let cell = index.and_then(|i| table.get("rows")?.get(0)?.get("cells")?.get(i));
    cell.and_then(|c| c.as_str()).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_config_secrets_are_read() {
        assert!(wanted("kubernetes.io/dockerconfigjson", false));
        assert!(wanted("kubernetes.io/dockercfg", false));
        assert!(wanted("Opaque", true));
        assert!(!wanted("Opaque", false));
        for t in [
            "kubernetes.io/ssh-auth",
            "kubernetes.io/service-account-token",
            "kubernetes.io/tls",
            "kubernetes.io/basic-auth",
        ] {
            assert!(!wanted(t, true), "{t}");
        }
    }

    #[test]
    fn the_type_comes_from_the_table() {
        let t = serde_json::json!({
            "kind": "Table",
            "columnDefinitions": [{ "name": "Name" }, { "name": "Type" }, { "name": "Data" }, { "name": "Age" }],
            "rows": [{ "cells": ["s", "kubernetes.io/ssh-auth", 1, "1m"] }],
        });
        assert_eq!(table_type(&t), "kubernetes.io/ssh-auth");
        assert_eq!(table_type(&serde_json::json!({ "rows": [] })), "");
        assert_eq!(table_type(&serde_json::json!([1])), "");
    }
}
