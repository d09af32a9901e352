//! The registry edge: one OCI client per registry and credential (each
//! with its own connection pool and token cache, reused across runs), the
//! scheme each registry speaks, and appending a layer to a tag with a
//! read-modify-write that is serialised per tag inside this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use prometheus_client::metrics::counter::Counter;

use super::Target;
use super::auth::Credential;
use super::layout::{self, Layer, Merge};

/// The User-Agent of every registry request (the bench counts requests by it).
pub use crate::http::USER_AGENT;
use crate::http::error_chain as chain;

/// Clients kept at most (registries × credentials); the cache is emptied when full.
const MAX_CLIENTS: usize = 256;

/// How a registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Https,
    Http,
}

/// What the first `GET /v2/` told about a registry.
#[derive(Clone)]
struct Probe {
    scheme: Scheme,
    /// It answered without asking for credentials.
    open: bool,
    /// A plain HTTP client for it (same TLS settings).
    http: reqwest::Client,
}

/// Who a client pushes as: anonymous, or a credential's fingerprint.
type ClientKey = (String, Scheme, bool, Option<String>);

/// A registry call that failed: the HTTP status, when there was one, and a
/// message that never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: Option<u16>,
    pub message: String,
}

impl Refused {
    /// 401 and 403: another credential may do.
    pub fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }
}

/// What [`Registries::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The tag held the same layer already.
    Present,
    /// A new manifest was pushed.
    Pushed,
}

/// All registry access of one signer.
pub struct Registries {
    roots: Vec<Certificate>,
    probes: Mutex<HashMap<(String, bool), Probe>>,
    clients: Mutex<HashMap<ClientKey, Client>>,
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Manifests pushed.
    pub pushes: Counter,
}

impl Registries {
    /// Trusts the system roots plus `roots_pem` (a PEM bundle, may be empty).
    pub fn new(roots_pem: Option<Vec<u8>>, pushes: Counter) -> Self {
        let end = "-----END CERTIFICATE-----";
        let text = String::from_utf8_lossy(&roots_pem.unwrap_or_default()).into_owned();
        let roots = text
            .split_inclusive(end)
            .filter(|c| c.contains(end))
            .map(|c| Certificate { encoding: CertificateEncoding::Pem, data: c.trim().as_bytes().to_vec() })
            .collect();
        Self { roots, probes: Mutex::default(), clients: Mutex::default(), locks: Mutex::default(), pushes }
    }

    /// Whether `registry` is on the loopback interface.
    pub fn is_loopback(registry: &str) -> bool {
        let host = match registry.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => registry,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// How `registry` is reached: https, or plain http for a loopback or
    /// `insecure` registry that does not answer https; and whether it asks
    /// for credentials at all. Probed once (one `GET /v2/`).
    async fn probe(&self, registry: &str, insecure: bool) -> Result<Probe, Refused> {
        let key = (registry.to_string(), insecure);
        if let Some(p) = self.probes.lock().expect("probes lock").get(&key) {
            return Ok(p.clone());
        }
        let http = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(insecure)
            .tls_certs_merge(
                self.roots.iter().filter_map(|c| reqwest::Certificate::from_pem_bundle(&c.data).ok()).flatten(),
            )
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Refused { status: None, message: format!("building an HTTP client: {e}") })?;
        let unreachable = |e: &reqwest::Error| Refused { status: None, message: format!("unreachable: {}", chain(e)) };
        let (scheme, res) = match http.get(format!("https://{registry}/v2/")).send().await {
            Ok(r) => (Scheme::Https, r),
            // A TLS server whose certificate is not trusted is not a plain-http one.
            Err(e) if (insecure || Self::is_loopback(registry)) && !chain(&e).contains("certificate") => {
                match http.get(format!("http://{registry}/v2/")).send().await {
                    Ok(r) => (Scheme::Http, r),
                    Err(_) => return Err(unreachable(&e)),
                }
            }
            Err(e) => return Err(unreachable(&e)),
        };
        let open = res.status().is_success() && !res.headers().contains_key(reqwest::header::WWW_AUTHENTICATE);
        let p = Probe { scheme, open, http };
        self.probes.lock().expect("probes lock").insert(key, p.clone());
        Ok(p)
    }

    /// The client for `registry` as `cred` (anonymous when `None`).
    fn client(
        &self,
        registry: &str,
        probe: &Probe,
        insecure: bool,
        cred: Option<&Credential>,
    ) -> Result<Client, Refused> {
        let key = (registry.to_string(), probe.scheme, insecure, cred.map(fingerprint));
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        let config = ClientConfig {
            protocol: match probe.scheme {
                Scheme::Https => ClientProtocol::Https,
                Scheme::Http => ClientProtocol::Http,
            },
            accept_invalid_certificates: insecure,
            extra_root_certificates: self.roots.clone(),
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            user_agent: USER_AGENT,
            ..Default::default()
        };
        let client = Client::try_from(config).map_err(|e| Refused { status: None, message: describe(&e) })?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The manifest a tag holds now, `None` when there is none. A registry
    /// that asks for no credentials is read with a plain GET, since the OCI
    /// client would ask `/v2/` for a challenge before every request.
    async fn current(
        &self,
        probe: &Probe,
        client: &Client,
        reference: &Reference,
        auth: &RegistryAuth,
    ) -> Result<Option<serde_json::Value>, Refused> {
        let accept = [layout::OCI_MANIFEST, layout::DOCKER_MANIFEST];
        let body = if probe.open {
            let scheme = if probe.scheme == Scheme::Http { "http" } else { "https" };
            let url = format!(
                "{scheme}://{}/v2/{}/manifests/{}",
                reference.registry(),
                reference.repository(),
                reference.tag().unwrap_or_default()
            );
            let res = probe
                .http
                .get(&url)
                .header("Accept", accept.join(", "))
                .send()
                .await
                .map_err(|e| Refused { status: e.status().map(|s| s.as_u16()), message: chain(&e) })?;
            match res.status().as_u16() {
                404 => return Ok(None),
                s if !(200..300).contains(&s) => {
                    return Err(Refused { status: Some(s), message: format!("GET {url}: HTTP {s}") });
                }
                _ => res.bytes().await.map_err(|e| Refused { status: None, message: chain(&e) })?,
            }
        } else {
            match client.pull_manifest_raw(reference, auth, &accept).await {
                Ok((body, _)) => body,
                Err(e) if status(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(Refused { status: status(&e), message: describe(&e) }),
            }
        };
        serde_json::from_slice(&body).map(Some).map_err(|e| Refused {
            status: None,
            message: format!("reading the manifest of {}: {e}", reference.tag().unwrap_or_default()),
        })
    }

    /// Appends `layer` to `repository:tag` on `registry` as `cred`: reads
    /// the manifest the tag holds, adds the layer unless it is there, and
    /// pushes layer, config and manifest. Appends to one tag never overlap
    /// in this process, so two runs that built one image both keep theirs.
    pub async fn append(&self, t: &Target, cred: Option<&Credential>, layer: &Layer) -> Result<Appended, Refused> {
        let probe = self.probe(&t.registry, t.insecure).await?;
        let lock = self.tag_lock(&format!("{}/{}:{}", t.registry, t.repository, t.tag));
        let _held = lock.lock().await;
        if probe.open {
            // A registry that asked for no credentials gets none (and no auth
            // round trips), unless it refuses the push: then it is asked with them.
            match self.append_as(&probe, t, None, layer).await {
                Err(e) if e.is_auth() && cred.is_some() => {
                    let closed = Probe { open: false, ..probe };
                    self.probes.lock().expect("probes lock").insert((t.registry.clone(), t.insecure), closed.clone());
                    self.append_as(&closed, t, cred, layer).await
                }
                r => r,
            }
        } else {
            self.append_as(&probe, t, cred, layer).await
        }
    }

    /// [`Registries::append`] as one identity, with the tag's lock held.
    async fn append_as(
        &self,
        probe: &Probe,
        t: &Target,
        cred: Option<&Credential>,
        layer: &Layer,
    ) -> Result<Appended, Refused> {
        let client = self.client(&t.registry, probe, t.insecure, cred)?;
        let auth = match cred {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.to_string()),
            None => RegistryAuth::Anonymous,
        };
        let reference = Reference::with_tag(t.registry.clone(), t.repository.clone(), t.tag.clone());
        let existing = self.current(probe, &client, &reference, &auth).await?;
        let Merge::Push { manifest, media_type, config } = layout::merge(existing.as_ref(), layer) else {
            return Ok(Appended::Present);
        };
        let refused = |e: OciDistributionError| Refused { status: status(&e), message: describe(&e) };
        client.push_blob(&reference, layer.data.clone(), &layer.digest()).await.map_err(refused)?;
        let config_digest = layout::sha256_digest(&config);
        client.push_blob(&reference, config, &config_digest).await.map_err(refused)?;
        let content_type = reqwest::header::HeaderValue::from_str(&media_type)
            .map_err(|e| Refused { status: None, message: format!("manifest media type {media_type:?}: {e}") })?;
        client.push_manifest_raw(&reference, manifest, content_type).await.map_err(refused)?;
        self.pushes.inc();
        Ok(Appended::Pushed)
    }

    /// The lock of one tag; unused locks are dropped as new ones are made.
    fn tag_lock(&self, tag: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("tag locks");
        if let Some(l) = locks.get(tag).and_then(Weak::upgrade) {
            return l;
        }
        locks.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(tag.to_string(), Arc::downgrade(&l));
        l
    }
}

/// A credential's identity for the client cache: a hash, never the secret.
fn fingerprint(c: &Credential) -> String {
    let mut bytes = Vec::new();
    for part in [c.registry.as_bytes(), c.username.as_bytes(), c.password.as_bytes()] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    layout::sha256_digest(&bytes)
}

/// The HTTP status behind an OCI client error, when there was one.
fn status(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::ImageManifestNotFoundError(_) => Some(404),
        OciDistributionError::RegistryError { envelope, .. } => Some(match envelope.errors.first().map(|e| &e.code) {
            Some(OciErrorCode::Unauthorized) => 401,
            Some(OciErrorCode::Denied) => 403,
            Some(OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown) => 404,
            Some(OciErrorCode::Toomanyrequests) => 429,
            _ => 400,
        }),
        OciDistributionError::RequestError(e) => e.status().map(|s| s.as_u16()),
        _ => None,
    }
}

/// An OCI client error as text (URLs and registry messages; the client
/// never puts credentials in either).
fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RequestError(r) => chain(r),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised() {
        for r in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.3.2.1", "[::1]:5000"] {
            assert!(Registries::is_loopback(r), "{r}");
        }
        for r in ["registry.example", "10.0.0.1:5000", "localhost.example:5000"] {
            assert!(!Registries::is_loopback(r), "{r}");
        }
    }
}
