//! The registry edge: the scheme each registry speaks (probed once, kept a
//! while), and appending a layer to a tag with a read-modify-write that is
//! serialised per tag inside this process. Every append has a total
//! deadline (two request timeouts), so a slow registry holds neither a
//! worker nor a tag lock for long.

use crate::remote::RemoteError;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

mod referrers;

pub use self::referrers::Referrer;
use super::Target;
use super::auth::Credential;
use super::distribution::{ACCEPT_MANIFESTS, Distribution, Endpoint, Fetched};
use super::layout::{self, Layer, Merge};

/// The User-Agent of every registry request (the bench counts requests by it).
pub use crate::http::USER_AGENT;
use crate::http::{CONNECT_TIMEOUT, REQUEST_TIMEOUT, error_chain};

/// How long one append (probe, read, uploads, manifest) may take in all,
/// in request timeouts (30 s each by default: one minute).
pub const APPEND_DEADLINE_REQUESTS: u32 = 2;
/// Registries whose scheme is remembered, and for how long.
const PROBES_KEPT: usize = 256;
/// Image subject descriptors remembered (a run's signature and attestation
/// share one lookup).
const SUBJECTS_KEPT: usize = 1024;
const PROBE_TTL: Duration = Duration::from_secs(600);

/// How a registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Https,
    Http,
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
    /// Verifying and (for `insecure` registries) non-verifying clients.
    secure: reqwest::Client,
    insecure: reqwest::Client,
    probes: Mutex<lru::LruCache<(String, bool), (Scheme, Instant)>>,
    distribution: Distribution,
    /// The whole-append deadline.
    deadline: Duration,
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Subject descriptors of images referrers were attached to, by
    /// `registry/repository@digest` (a digest names fixed bytes; bounded).
    subjects: Mutex<lru::LruCache<String, super::bundle::Descriptor>>,
    /// Manifests pushed.
    pub pushes: Counter,
}

impl Registries {
    /// Trusts the system roots plus `roots_pem` (a PEM bundle, may be empty);
    /// every request ends within `timeout` ([`REQUEST_TIMEOUT`] by default).
    pub fn new(roots_pem: Option<Vec<u8>>, pushes: Counter, timeout: Option<Duration>) -> Self {
        let timeout = timeout.unwrap_or(REQUEST_TIMEOUT);
        let roots = roots_pem.and_then(|p| reqwest::Certificate::from_pem_bundle(&p).ok()).unwrap_or_default();
        let build = |accept_invalid: bool| {
            reqwest::Client::builder()
                .tls_danger_accept_invalid_certs(accept_invalid)
                .tls_certs_merge(roots.clone())
                .connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::limited(3))
                .user_agent(USER_AGENT)
                .build()
                .expect("an HTTP client with these TLS settings builds")
        };
        let kept = NonZeroUsize::new(PROBES_KEPT).expect("non-zero");
        Self {
            secure: build(false),
            insecure: build(true),
            probes: Mutex::new(lru::LruCache::new(kept)),
            distribution: Distribution::default(),
            deadline: timeout.saturating_mul(APPEND_DEADLINE_REQUESTS),
            locks: Mutex::default(),
            subjects: Mutex::new(lru::LruCache::new(NonZeroUsize::new(SUBJECTS_KEPT).expect("non-zero"))),
            pushes,
        }
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

    fn http(&self, insecure: bool) -> &reqwest::Client {
        if insecure { &self.insecure } else { &self.secure }
    }

    /// How `registry` is reached: https, or plain http for a loopback or
    /// `insecure` registry that does not answer https. Probed once (one
    /// `GET /v2/`) and remembered for a while.
    async fn endpoint(&self, registry: &str, insecure: bool) -> Result<Endpoint, RemoteError> {
        let key = (registry.to_string(), insecure);
        let known = self.probes.lock().get(&key).filter(|(_, at)| at.elapsed() < PROBE_TTL).map(|(s, _)| *s);
        let scheme = match known {
            Some(s) => s,
            None => {
                let s = self.probe(registry, insecure).await?;
                self.probes.lock().put(key, (s, Instant::now()));
                s
            }
        };
        let base = match scheme {
            Scheme::Https => format!("https://{registry}"),
            Scheme::Http => format!("http://{registry}"),
        };
        Ok(Endpoint { base, insecure: insecure || scheme == Scheme::Http })
    }

    async fn probe(&self, registry: &str, insecure: bool) -> Result<Scheme, RemoteError> {
        let http = self.http(insecure);
        let unreachable =
            |e: &reqwest::Error| RemoteError::unreachable("", format!("unreachable: {}", error_chain(e)), true);
        match http.get(format!("https://{registry}/v2/")).send().await {
            Ok(_) => Ok(Scheme::Https),
            // A TLS server whose certificate is not trusted is not a plain-http one.
            Err(e) if (insecure || Self::is_loopback(registry)) && !error_chain(&e).contains("certificate") => {
                match http.get(format!("http://{registry}/v2/")).send().await {
                    Ok(_) => Ok(Scheme::Http),
                    Err(_) => Err(unreachable(&e)),
                }
            }
            Err(e) => Err(unreachable(&e)),
        }
    }

    /// Appends `layer` to `repository:tag` on `registry` as `cred`: reads
    /// the manifest the tag holds, adds the layer unless it is there, and
    /// pushes layer, config and manifest. Appends to one tag never overlap
    /// in this process, so two runs that built one image both keep theirs.
    /// The whole append ends within two request timeouts.
    pub async fn append(&self, t: &Target, cred: Option<&Credential>, layer: &Layer) -> Result<Appended, RemoteError> {
        self.within_deadline(self.append_now(t, cred, layer)).await
    }

    /// `work` within the whole-append deadline.
    async fn within_deadline<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        match tokio::time::timeout(self.deadline, work).await {
            Ok(r) => r,
            // Too slow is not "down": it counts like any other failure.
            Err(_) => {
                Err(RemoteError::invalid(None, format!("gave up after {:?} (the registry is too slow)", self.deadline)))
            }
        }
    }

    async fn append_now(&self, t: &Target, cred: Option<&Credential>, layer: &Layer) -> Result<Appended, RemoteError> {
        let ep = self.endpoint(&t.registry, t.insecure).await?;
        let http = self.http(t.insecure);
        let lock = self.tag_lock(&format!("{}/{}:{}", t.registry, t.repository, t.tag));
        let _held = lock.lock().await;
        let d = &self.distribution;
        let existing = d.manifest(http, &ep, &t.repository, &t.tag, ACCEPT_MANIFESTS, cred).await?;
        let existing = match existing {
            None => None,
            Some(Fetched { body, .. }) => Some(serde_json::from_slice::<serde_json::Value>(&body).map_err(|e| {
                RemoteError::invalid(
                    None,
                    format!(
                        "the manifest of {} is not JSON: {}",
                        t.tag,
                        crate::http::excerpt(e.to_string().as_bytes(), 120)
                    ),
                )
            })?),
        };
        let merged = layout::merge(existing.as_ref(), layer)
            .map_err(|e| RemoteError::invalid(None, format!("the manifest of {}: {e}", t.tag)))?;
        let Merge::Push { manifest, media_type, config } = merged else {
            return Ok(Appended::Present);
        };
        d.push_blob(http, &ep, &t.repository, &layer.digest(), &layer.data, cred).await?;
        d.push_blob(http, &ep, &t.repository, &layout::sha256_digest(&config), &config, cred).await?;
        d.push_manifest(http, &ep, &t.repository, &t.tag, &media_type, &manifest, cred).await?;
        self.pushes.inc();
        Ok(Appended::Pushed)
    }

    /// The lock of one tag; unused locks are dropped as new ones are made.
    fn tag_lock(&self, tag: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock();
        if let Some(l) = locks.get(tag).and_then(Weak::upgrade) {
            return l;
        }
        locks.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(tag.to_string(), Arc::downgrade(&l));
        l
    }

    /// Registries whose scheme is remembered now (bounded).
    pub fn remembered(&self) -> usize {
        self.probes.lock().len()
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
