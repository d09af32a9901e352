//! `signers.kms.kmsref: gcpkms://projects/…/cryptoKeys/KEY[/cryptoKeyVersions/N]`:
//! signatures made by a Google Cloud KMS key version, as sigstore's gcpkms
//! makes them (so `cosign verify --key gcpkms://…` checks them), over
//! Cloud KMS's documented REST API.
//!
//! - Credentials: Google's application default credentials (`gcp_auth`):
//!   `GOOGLE_APPLICATION_CREDENTIALS` (a service account key file), the
//!   metadata server (GKE Workload Identity, GCE), or gcloud's user login.
//! - Versions: the named one; else the newest enabled one, looked up again
//!   every 5 minutes (as sigstore does), so a new version is used without a
//!   restart.
//! - One request per signature: the version's public key is fetched once
//!   per process and version; every request and reply is checked with its
//!   CRC32C, as Google recommends.
//!
//! NOT TESTED against a real Cloud KMS: no emulator exists. The HTTP edge
//! is tested against replies shaped as Google documents them.

pub(super) mod key;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use self::key::{Reference, SCHEME, Version};
use super::tokens::{Bearer, GoogleCredentials, Tokens};
use super::{SignError, Signature, Signer, Verifier};
use crate::config::SigningIdentity;
use crate::http::REQUEST_TIMEOUT;
use crate::seam::{Env, Factory, Unsupported};

/// Cloud KMS's REST endpoint.
const ENDPOINT: &str = "https://cloudkms.googleapis.com";
/// The OAuth scope of Cloud KMS.
const SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";
/// The most a reply may be.
const REPLY_CAP: usize = 1 << 20;
/// How long the newest enabled version of an unversioned key is trusted.
const VERSION_TTL: Duration = Duration::from_secs(300);

/// One `gcpkms://` reference.
pub struct GcpKey {
    remote: Bearer,
    endpoint: String,
    reference: Reference,
    /// The version in force, and when it was chosen.
    current: Mutex<Option<(Arc<Version>, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl GcpKey {
    fn fresh(&self, at: Instant) -> bool {
        self.reference.version.is_some() || at.elapsed() < VERSION_TTL
    }

    /// The version in force: fetched once, and (unversioned keys) looked up
    /// again after [`VERSION_TTL`].
    async fn version(&self) -> Result<Arc<Version>, SignError> {
        let cached = || self.current.lock().clone().filter(|(_, at)| self.fresh(*at)).map(|(v, _)| v);
        if let Some(v) = cached() {
            return Ok(v);
        }
        let _one = self.fetching.lock().await;
        if let Some(v) = cached() {
            return Ok(v);
        }
        let name = match &self.reference.version {
            Some(v) => self.reference.version_name(v),
            None => {
                let url = format!(
                    "{}/v1/{}/cryptoKeyVersions?filter=state%3DENABLED&pageSize=1000",
                    self.endpoint, self.reference.key
                );
                let reply = self.remote.call(self.remote.http.get(url), REPLY_CAP).await?;
                key::newest_enabled(&reply, &self.reference.key).map_err(|e| self.remote.invalid(e))?
            }
        };
        let known = self.current.lock().clone().filter(|(v, _)| v.name == name).map(|(v, _)| v);
        let v = match known {
            Some(v) => v,
            None => {
                let reply = self
                    .remote
                    .call(self.remote.http.get(format!("{}/v1/{name}/publicKey", self.endpoint)), REPLY_CAP)
                    .await?;
                Arc::new(key::parse_public_key(&reply, &name).map_err(|e| self.remote.invalid(e))?)
            }
        };
        *self.current.lock() = Some((v.clone(), Instant::now()));
        Ok(v)
    }
}

#[async_trait::async_trait]
impl Signer for GcpKey {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let v = self.version().await?;
        let url = format!("{}/v1/{}:asymmetricSign", self.endpoint, v.name);
        let reply = self.remote.call(self.remote.http.post(url).json(&v.input.sign_body(msg)), REPLY_CAP).await?;
        let bytes = key::parse_signature(&reply, v.input).map_err(|e| self.remote.invalid(e))?;
        Ok(Signature { bytes, verifier: Verifier { public_key_pem: v.pem.as_str().into(), cert: None, chain: None } })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        let v = self.version().await?;
        Ok(Verifier { public_key_pem: v.pem.as_str().into(), cert: None, chain: None })
    }
}

/// The gcpkms factory: one [`GcpKey`] per reference, kept across config changes.
pub struct GcpKms {
    http: reqwest::Client,
    endpoint: String,
    tokens: Arc<dyn Tokens>,
    requests: Counter,
    keys: Mutex<std::collections::HashMap<String, Arc<GcpKey>>>,
}

/// Makes the gcpkms factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    let tokens = Arc::new(GoogleCredentials::new(SCOPE));
    make(env, ENDPOINT, tokens).map(|f| f as Arc<dyn Factory<SigningIdentity, dyn Signer>>)
}

fn make(env: &Env, endpoint: &str, tokens: Arc<dyn Tokens>) -> Option<Arc<GcpKms>> {
    let http = crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?;
    let requests = env.kms_requests.clone();
    Some(Arc::new(GcpKms { http, endpoint: endpoint.into(), tokens, requests, keys: Mutex::default() }))
}

impl Factory<SigningIdentity, dyn Signer> for GcpKms {
    fn name(&self) -> &'static str {
        "gcpkms"
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        let (kmsref, _, reference) = match super::kmsref::of_scheme(identity, SCHEME, "gcpkms signer", key::parse)? {
            Ok(parsed) => parsed,
            Err(refusal) => return Some(Err(refusal)),
        };
        let mut keys = self.keys.lock();
        let k = keys.entry(kmsref.to_string()).or_insert_with(|| {
            Arc::new(GcpKey {
                remote: Bearer {
                    http: self.http.clone(),
                    tokens: self.tokens.clone(),
                    requests: self.requests.clone(),
                    target: kmsref.to_string(),
                },
                endpoint: self.endpoint.clone(),
                reference,
                current: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            })
        });
        Some(Ok(k.clone() as Arc<dyn Signer>))
    }
}

#[cfg(test)]
mod tests;
