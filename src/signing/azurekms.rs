//! `signers.kms.kmsref: azurekms://VAULT.vault.azure.net/KEY[/VERSION]`:
//! signatures made by an Azure Key Vault key, as sigstore's azurekms makes
//! them (so `cosign verify --key azurekms://…` checks them), over Key
//! Vault's documented REST API (7.4).
//!
//! - Credentials, the first one the environment has: a client secret
//!   (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload
//!   identity (`AZURE_FEDERATED_TOKEN_FILE` with the tenant and client, as
//!   AKS sets them), else the managed identity (IMDS). `AZURE_AUTHORITY_HOST`
//!   overrides `https://login.microsoftonline.com`.
//! - Versions: the named one; else the key's current one, looked up again
//!   every 5 minutes, so a rotated key signs without a restart.
//! - One request per signature: the key is fetched once per process and
//!   version; the token once per its lifetime.
//!
//! NOT TESTED against a real Key Vault: no server can be had here (Lowkey
//! Vault is not on Maven Central). The HTTP edge is tested against replies
//! shaped as Microsoft documents them.

pub(super) mod key;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use self::key::{Key, Reference, SCHEME};
use super::tokens::{Bearer, Tokens};
use super::{SignError, Signature, Signer, Verifier};
use crate::config::SigningIdentity;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{Env, Factory, Unsupported};

const API_VERSION: &str = "api-version=7.4";
const REPLY_CAP: usize = 1 << 20;
const VERSION_TTL: Duration = Duration::from_secs(300);
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How the signer proves who it is to Entra ID.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    Secret { tenant: String, client: String, secret: String },
    Federated { tenant: String, client: String, file: PathBuf },
    Managed { client: Option<String> },
}

impl Credential {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID")) {
            (Some(tenant), Some(client)) => {
                if let Some(secret) = var("AZURE_CLIENT_SECRET") {
                    Self::Secret { tenant, client, secret }
                } else if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
                    Self::Federated { tenant, client, file: file.into() }
                } else {
                    Self::Managed { client: Some(client) }
                }
            }
            (_, client) => Self::Managed { client },
        }
    }
}

/// Entra ID access tokens for one scope, cached until shortly before expiry.
struct EntraTokens {
    http: reqwest::Client,
    credential: Credential,
    authority: String,
    scope: String,
    requests: Counter,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[async_trait::async_trait]
impl Tokens for EntraTokens {
    async fn bearer(&self) -> Result<String, RemoteError> {
        let mut held = self.cached.lock().await;
        if let Some((t, until)) = held.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let target = "Azure credentials";
        let req = match &self.credential {
            Credential::Secret { tenant, client, secret } => {
                let url = format!("{}/{tenant}/oauth2/v2.0/token", self.authority);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", &self.scope),
                ];
                form_post(self.http.post(url), &form)
            }
            Credential::Federated { tenant, client, file } => {
                let assertion = std::fs::read_to_string(file)
                    .map_err(|e| RemoteError::unreachable(target, format!("reading {}: {e}", file.display()), false))?;
                let url = format!("{}/{tenant}/oauth2/v2.0/token", self.authority);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client.as_str()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.trim()),
                    ("scope", &self.scope),
                ];
                form_post(self.http.post(url), &form)
            }
            Credential::Managed { client } => {
                let resource = self.scope.trim_end_matches("/.default");
                let mut url = format!("{IMDS}?api-version=2018-02-01&resource={resource}");
                if let Some(c) = client {
                    url.push_str(&format!("&client_id={c}"));
                }
                self.http.get(url).header("Metadata", "true")
            }
        };
        self.requests.inc();
        let res = req.send().await.map_err(|e| not_sent(target, &e))?;
        let reply = expect_ok(target, res, REPLY_CAP).await?;
        let (token, life) = parse_token(&reply).map_err(|e| RemoteError::invalid(None, e).at(target))?;
        let until = Instant::now() + life.saturating_sub(TOKEN_MARGIN);
        *held = Some((token.clone(), until));
        Ok(token)
    }
}

/// `req` with `form` as its `application/x-www-form-urlencoded` body.
fn form_post(req: reqwest::RequestBuilder, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    req.header("Content-Type", "application/x-www-form-urlencoded").body(body)
}

/// An OAuth token reply: the token and how long it lasts (`expires_in`, a
/// number or, from IMDS, a string).
fn parse_token(reply: &[u8]) -> Result<(String, Duration), String> {
    let v: serde_json::Value = serde_json::from_slice(reply).map_err(|e| format!("token reply: {e}"))?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("token reply: no access_token")?;
    let secs = match v.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok((token.to_string(), Duration::from_secs(secs.unwrap_or(300))))
}

/// One `azurekms://` reference.
pub struct AzureKey {
    remote: Bearer,
    reference: Reference,
    current: Mutex<Option<(Arc<Key>, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl AzureKey {
    async fn key(&self) -> Result<Arc<Key>, SignError> {
        let fresh = |at: Instant| !self.reference.version.is_empty() || at.elapsed() < VERSION_TTL;
        let cached = || self.current.lock().clone().filter(|(_, at)| fresh(*at)).map(|(k, _)| k);
        if let Some(k) = cached() {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        if let Some(k) = cached() {
            return Ok(k);
        }
        let reply = self
            .remote
            .call(self.remote.http.get(format!("{}?{API_VERSION}", self.reference.key_url())), REPLY_CAP)
            .await?;
        let k = key::parse_key(&reply).map_err(|e| self.remote.invalid(e))?;
        // The kid is where signatures are asked for, with our token: it must be this key.
        let own = format!("{}/keys/{}/", self.reference.vault, self.reference.key);
        if !k.kid.starts_with(&own) || k.kid[own.len()..].contains('/') {
            return Err(self.remote.invalid(format!(
                "the key's kid {:?} is not a version of {}",
                k.kid,
                self.reference.key_url()
            )));
        }
        let k = Arc::new(k);
        *self.current.lock() = Some((k.clone(), Instant::now()));
        Ok(k)
    }
}

#[async_trait::async_trait]
impl Signer for AzureKey {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let k = self.key().await?;
        let url = format!("{}/sign?{API_VERSION}", k.kid);
        let reply = self.remote.call(self.remote.http.post(url).json(&k.algorithm.sign_body(msg)), REPLY_CAP).await?;
        let bytes = key::parse_signature(&reply, k.algorithm).map_err(|e| self.remote.invalid(e))?;
        Ok(Signature { bytes, verifier: Verifier { public_key_pem: k.pem.as_str().into(), cert: None, chain: None } })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        let k = self.key().await?;
        Ok(Verifier { public_key_pem: k.pem.as_str().into(), cert: None, chain: None })
    }
}

/// The azurekms factory: one [`AzureKey`] per reference, one token cache per vault domain.
pub struct AzureKms {
    http: reqwest::Client,
    requests: Counter,
    authority: String,
    tokens: Mutex<std::collections::HashMap<String, Arc<dyn Tokens>>>,
    keys: Mutex<std::collections::HashMap<String, Arc<AzureKey>>>,
}

/// Makes the azurekms factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    let authority =
        std::env::var("AZURE_AUTHORITY_HOST").unwrap_or_else(|_| "https://login.microsoftonline.com".into());
    make(env, &authority).map(|f| f as Arc<dyn Factory<SigningIdentity, dyn Signer>>)
}

fn make(env: &Env, authority: &str) -> Option<Arc<AzureKms>> {
    let http = crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?;
    Some(Arc::new(AzureKms {
        http,
        requests: env.kms_requests.clone(),
        authority: authority.trim_end_matches('/').to_string(),
        tokens: Mutex::default(),
        keys: Mutex::default(),
    }))
}

impl AzureKms {
    /// The token source for `vault`'s domain (`https://vault.azure.net/.default` for `x.vault.azure.net`).
    fn tokens_for(&self, vault: &str) -> Arc<dyn Tokens> {
        let host = vault.trim_start_matches("https://");
        let domain = host.split_once('.').map_or(host, |(_, d)| d).split(':').next().unwrap_or_default();
        let scope = format!("https://{domain}/.default");
        self.tokens
            .lock()
            .entry(scope.clone())
            .or_insert_with(|| {
                Arc::new(EntraTokens {
                    http: self.http.clone(),
                    credential: Credential::from_env(),
                    authority: self.authority.clone(),
                    scope,
                    requests: self.requests.clone(),
                    cached: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    fn signer(&self, kmsref: &str, reference: Reference, tokens: Arc<dyn Tokens>) -> Arc<AzureKey> {
        self.keys
            .lock()
            .entry(kmsref.to_string())
            .or_insert_with(|| {
                Arc::new(AzureKey {
                    remote: Bearer {
                        http: self.http.clone(),
                        tokens,
                        requests: self.requests.clone(),
                        target: kmsref.to_string(),
                    },
                    reference,
                    current: Mutex::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }
}

impl Factory<SigningIdentity, dyn Signer> for AzureKms {
    fn name(&self) -> &'static str {
        "azurekms"
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        let (kmsref, _, reference) = match super::kmsref::of_scheme(identity, SCHEME, "azurekms signer", key::parse)? {
            Ok(parsed) => parsed,
            Err(refusal) => return Some(Err(refusal)),
        };
        let tokens = self.tokens_for(&reference.vault);
        Some(Ok(self.signer(kmsref, reference, tokens) as Arc<dyn Signer>))
    }
}

#[cfg(test)]
mod tests;
