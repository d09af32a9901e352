//! Keyless signing (`signers.x509.fulcio.enabled: true`): each signer
//! process holds an ephemeral ECDSA P-256 key and a short-lived Fulcio
//! certificate for it, obtained with an OIDC identity token (the projected
//! ServiceAccount token, audience `sigstore`, at
//! `signers.x509.identity.token.file`). The certificate is renewed before it
//! expires (a quarter of its life, at least 30 s, before), with a new key:
//! one Fulcio request per certificate lifetime, not per run.
//!
//! Each signature carries the certificate and its chain: `cert-`/`chain-`
//! annotations, the OCI layers' `dev.sigstore.cosign/certificate` and
//! `/chain`, and Rekor entries (whose verifier is the certificate). No
//! local key is ever used instead.

pub(super) mod cert;
mod identity;
mod spiffe;

use std::sync::Arc;
use std::time::SystemTime;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use self::identity::IdentityToken;
use super::{SignError, Signature, Signer, Verifier};
use crate::config::SigningIdentity;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{Env, Factory, Unsupported};

/// Where the projected token is when `signers.x509.identity.token.file` is empty.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/sigstore/cosign/oidc-token";
/// The most a Fulcio reply may be.
const REPLY_CAP: usize = 1 << 20;
/// The most an identity token (file or reply) may be.
const TOKEN_CAP: usize = 64 << 10;
/// The audience Fulcio expects.
const AUDIENCE: &str = "sigstore";

/// An ephemeral key and its certificate.
struct Held {
    key: SigningKey,
    verifier: Verifier,
    renew_at: SystemTime,
}

/// A Fulcio instance and a token file.
pub struct Keyless {
    http: reqwest::Client,
    requests: Counter,
    /// `Fulcio at URL`, for messages (never a token).
    target: String,
    url: String,
    identity: IdentityToken,
    held: Mutex<Option<Arc<Held>>>,
    fetching: tokio::sync::Mutex<()>,
}

impl Keyless {
    fn invalid(&self, message: String) -> SignError {
        SignError::Remote(RemoteError::invalid(None, message).at(&self.target))
    }

    /// The key and certificate in force, renewed when due.
    async fn current(&self) -> Result<Arc<Held>, SignError> {
        let valid = || self.held.lock().clone().filter(|h| SystemTime::now() < h.renew_at);
        if let Some(h) = valid() {
            return Ok(h);
        }
        let _one = self.fetching.lock().await;
        if let Some(h) = valid() {
            return Ok(h);
        }
        let token = self.identity.fetch(&self.http).await.map_err(|e| {
            let message = format!("{e}");
            SignError::Remote(RemoteError { target: self.target.clone(), message, ..e })
        })?;
        let subject = cert::subject(&token).map_err(|e| self.invalid(e))?;
        let key = ephemeral_key();
        let public = key.verifying_key();
        let der = public.to_public_key_der().map_err(|e| self.invalid(e.to_string()))?;
        let pem = public.to_public_key_pem(LineEnding::LF).map_err(|e| self.invalid(e.to_string()))?;
        let proof: DerSignature = key.sign(subject.as_bytes());
        let body = cert::request(&token, &pem, proof.as_bytes());
        self.requests.inc();
        let url = format!("{}/api/v2/signingCert", self.url);
        let res = self.http.post(url).json(&body).send().await.map_err(|e| not_sent(&self.target, &e))?;
        let reply = expect_ok(&self.target, res, REPLY_CAP).await.map_err(|mut e| {
            // A refused token (expired, not yet valid, rotated meanwhile) is
            // read again on the next attempt: retryable.
            if matches!(e.status, Some(400 | 401 | 403)) {
                e.retryable = true;
            }
            e
        })?;
        let issued = cert::parse(&reply, der.as_bytes()).map_err(|e| self.invalid(e))?;
        tracing::info!(fulcio = %self.url, not_after = ?issued.not_after, "got a signing certificate");
        let verifier = Verifier {
            public_key_pem: pem.into(),
            cert: Some(issued.cert.into()),
            chain: (!issued.chain.is_empty()).then(|| issued.chain.into()),
        };
        let held = Arc::new(Held { key, verifier, renew_at: issued.renew_at });
        *self.held.lock() = Some(held.clone());
        Ok(held)
    }
}

/// A fresh P-256 key from the OS's randomness.
fn ephemeral_key() -> SigningKey {
    use rand::RngCore as _;
    loop {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        // Fails only for zero or a value over the order: draw again.
        if let Ok(k) = SigningKey::from_slice(bytes.as_ref()) {
            return k;
        }
    }
}

#[async_trait::async_trait]
impl Signer for Keyless {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let held = self.current().await?;
        let sig: DerSignature = held.key.sign(msg);
        Ok(Signature { bytes: sig.as_bytes().to_vec(), verifier: held.verifier.clone() })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        Ok(self.current().await?.verifier.clone())
    }
}

/// The keyless factory: one [`Keyless`] per Fulcio and token file, kept
/// across config changes (so its certificate is too).
pub struct Fulcio {
    http: reqwest::Client,
    requests: Counter,
    signers: Mutex<std::collections::HashMap<(String, IdentityToken), Arc<Keyless>>>,
}

/// Makes the keyless factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    let http = crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?;
    Some(Arc::new(Fulcio { http, requests: env.fulcio_requests.clone(), signers: Mutex::default() }))
}

impl Factory<SigningIdentity, dyn Signer> for Fulcio {
    fn name(&self) -> &'static str {
        super::KEYLESS
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        let SigningIdentity::Keyless { fulcio, provider, token_file, .. } = identity else { return None };
        let refuse = |key: &str, value: &str, supported: &str| Unsupported {
            what: "keyless signer",
            key: key.into(),
            value: value.into(),
            supported: supported.into(),
        };
        let url = fulcio.trim_end_matches('/').to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Some(Err(refuse("signers.x509.fulcio.address", fulcio, "an http(s) URL")));
        }
        let file = if token_file.is_empty() { DEFAULT_TOKEN_FILE } else { token_file.as_str() };
        let identity = match IdentityToken::of(provider, file) {
            Ok(i) => i,
            Err(supported) => return Some(Err(refuse("signers.x509.fulcio.provider", provider, &supported))),
        };
        let mut signers = self.signers.lock();
        let s = signers.entry((url.clone(), identity.clone())).or_insert_with(|| {
            Arc::new(Keyless {
                http: self.http.clone(),
                requests: self.requests.clone(),
                target: format!("Fulcio at {url}"),
                url,
                identity,
                held: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            })
        });
        Some(Ok(s.clone() as Arc<dyn Signer>))
    }
}

#[cfg(test)]
mod tests;
