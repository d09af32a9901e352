//! `signers.kms.kmsref: hashivault://KEY`: signatures made by a Vault or
//! OpenBao Transit key, as sigstore's hashivault KMS makes them (so
//! `cosign verify --key hashivault://KEY` checks them).
//!
//! - Address: `signers.kms.auth.address`, else `VAULT_ADDR`; the Transit
//!   mount: `TRANSIT_SECRET_ENGINE_PATH`, else `transit` (cosign's).
//! - Token: `signers.kms.auth.token`, else the file `.token-path` (read at
//!   first use and again when refused), else a JWT / Kubernetes login (`.oidc.path`, default
//!   `jwt`; `.oidc.role`; the token file `.oidc.token-path`, default the
//!   pod's ServiceAccount token), else `VAULT_TOKEN`.
//! - One request per signature: key versions and their public keys are
//!   fetched once per process and per version; a signature by a version not
//!   seen yet (the key was rotated) fetches them again, once.

pub(super) mod transit;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use self::transit::{KeyInfo, SCHEME};
use super::{SignError, Signature, Signer, Verifier};
use crate::config::{KmsAuth, SigningIdentity};
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{Env, Factory, Unsupported};
use crate::tekton::objects::SERVICE_ACCOUNT_TOKEN;

/// The most a Transit reply may be.
const REPLY_CAP: usize = 1 << 20;
/// A login token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// How the signer gets its Vault token.
#[derive(Clone, PartialEq, Eq)]
enum Auth {
    Token(String),
    TokenFile(PathBuf),
    Login { mount: String, role: String, jwt_file: PathBuf },
}

impl Auth {
    fn of(auth: &KmsAuth) -> Result<Self, String> {
        if !auth.token.expose().is_empty() {
            return Ok(Self::Token(auth.token.expose().to_string()));
        }
        if !auth.token_path.is_empty() {
            return Ok(Self::TokenFile(auth.token_path.clone().into()));
        }
        if !auth.oidc_role.is_empty() {
            let mount = if auth.oidc_path.is_empty() { "jwt" } else { auth.oidc_path.trim_matches('/') };
            let jwt = if auth.oidc_token_path.is_empty() { SERVICE_ACCOUNT_TOKEN } else { &auth.oidc_token_path };
            return Ok(Self::Login { mount: mount.to_string(), role: auth.oidc_role.clone(), jwt_file: jwt.into() });
        }
        match std::env::var("VAULT_TOKEN") {
            Ok(t) if !t.is_empty() => Ok(Self::Token(t)),
            _ => Err("no Vault token: set signers.kms.auth.token, signers.kms.auth.token-path, \
                      signers.kms.auth.oidc.role, or VAULT_TOKEN"
                .into()),
        }
    }
}

/// One Transit key at one address.
pub struct Transit {
    http: reqwest::Client,
    requests: Counter,
    /// `hashivault://KEY at ADDR`, for messages (never a token).
    target: String,
    addr: String,
    mount: String,
    key: String,
    auth: Auth,
    token: tokio::sync::Mutex<Option<(String, Option<Instant>)>>,
    info: Mutex<Option<Arc<KeyInfo>>>,
    /// Held while the key is fetched.
    fetching: tokio::sync::Mutex<()>,
}

impl Transit {
    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.addr)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, RemoteError> {
        self.requests.inc();
        let res = req.send().await.map_err(|e| not_sent(&self.target, &e))?;
        expect_ok(&self.target, res, REPLY_CAP).await
    }

    fn invalid(&self, message: String) -> SignError {
        SignError::Remote(RemoteError::invalid(None, message).at(&self.target))
    }

    /// The token to send, logging in when the auth asks for it.
    async fn token(&self, renew: bool) -> Result<String, SignError> {
        let mut held = self.token.lock().await;
        if let (false, Some((t, expiry))) = (renew, held.as_ref())
            && expiry.is_none_or(|e| Instant::now() < e)
        {
            return Ok(t.clone());
        }
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map(|t| t.trim().to_string()).map_err(|e| {
                SignError::Remote(RemoteError::invalid(None, format!("reading {}: {e}", p.display())).at(&self.target))
            })
        };
        let fresh = match &self.auth {
            Auth::Token(t) => (t.clone(), None),
            Auth::TokenFile(p) => (read(p)?, None),
            Auth::Login { mount, role, jwt_file } => {
                let jwt = read(jwt_file)?;
                let body = serde_json::json!({ "role": role, "jwt": jwt });
                let reply = self.send(self.http.post(self.url(&format!("auth/{mount}/login"))).json(&body)).await?;
                let (token, lease) = transit::parse_login(&reply).map_err(|e| self.invalid(e))?;
                let expiry =
                    (lease > 0).then(|| Instant::now() + Duration::from_secs(lease).saturating_sub(TOKEN_MARGIN));
                (token, expiry)
            }
        };
        *held = Some(fresh.clone());
        Ok(fresh.0)
    }

    /// Sends a request with the token; one from a file or a login that is
    /// refused (403) is read or renewed once.
    async fn authed(&self, make: impl Fn(&str) -> reqwest::RequestBuilder) -> Result<Vec<u8>, SignError> {
        let token = self.token(false).await?;
        match self.send(make(&token)).await {
            Err(e) if e.status == Some(403) && !matches!(self.auth, Auth::Token(_)) => {
                let token = self.token(true).await?;
                Ok(self.send(make(&token)).await?)
            }
            other => Ok(other?),
        }
    }

    /// The key's versions, from memory when it has `need` (any version when
    /// `None`); fetched once however many signatures ask at the same time.
    async fn info(&self, need: Option<u64>) -> Result<Arc<KeyInfo>, SignError> {
        let cached = || self.info.lock().clone().filter(|i| need.is_none_or(|v| i.public.contains_key(&v)));
        if let Some(i) = cached() {
            return Ok(i);
        }
        let _one = self.fetching.lock().await;
        if let Some(i) = cached() {
            return Ok(i);
        }
        let url = self.url(&format!("{}/keys/{}", self.mount, self.key));
        let reply = self.authed(|t| self.http.get(&url).header("X-Vault-Token", t)).await?;
        let info = Arc::new(transit::parse_key(&reply).map_err(|e| self.invalid(e))?);
        *self.info.lock() = Some(info.clone());
        Ok(info)
    }

    fn verifier(pem: Arc<str>) -> Verifier {
        Verifier { public_key_pem: pem, cert: None, chain: None }
    }
}

#[async_trait::async_trait]
impl Signer for Transit {
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let info = self.info(None).await?;
        let path = match info.kind.hash_path() {
            Some(hash) => format!("{}/sign/{}/{hash}", self.mount, self.key),
            None => format!("{}/sign/{}", self.mount, self.key),
        };
        let (url, body) = (self.url(&path), info.kind.sign_body(msg));
        let reply = self.authed(|t| self.http.post(&url).header("X-Vault-Token", t).json(&body)).await?;
        let (version, bytes) = transit::parse_signature(&reply).map_err(|e| self.invalid(e))?;
        let pem = match info.public.get(&version) {
            Some(pem) => pem.clone(),
            // Rotated since we looked: the new version's key, fetched once.
            None => self.info(Some(version)).await?.public.get(&version).cloned().ok_or_else(|| {
                self.invalid(format!("signed with key version {version}, which the key does not list"))
            })?,
        };
        Ok(Signature { bytes, verifier: Self::verifier(pem) })
    }

    async fn verifier(&self) -> Result<Verifier, SignError> {
        let info = self.info(None).await?;
        let pem = info.public.get(&info.latest).cloned().ok_or_else(|| self.invalid("no latest key".into()))?;
        Ok(Self::verifier(pem))
    }
}

/// The hashivault factory: one HTTP client, and one [`Transit`] per key and
/// auth, kept across config changes (so keys are fetched once per process).
pub struct Hashivault {
    http: reqwest::Client,
    requests: Counter,
    keys: Mutex<HashMap<String, Arc<Transit>>>,
}

/// Makes the hashivault factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<SigningIdentity, dyn Signer>>> {
    let timeout = env.http_timeout.unwrap_or(REQUEST_TIMEOUT);
    let mut builder = crate::http::client_builder(timeout);
    if let Some(ca) = std::env::var_os("VAULT_CACERT").and_then(|p| std::fs::read(p).ok())
        && let Ok(certs) = reqwest::Certificate::from_pem_bundle(&ca)
    {
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    let http = builder.build().ok()?;
    Some(Arc::new(Hashivault { http, requests: env.kms_requests.clone(), keys: Mutex::default() }))
}

impl Factory<SigningIdentity, dyn Signer> for Hashivault {
    fn name(&self) -> &'static str {
        "hashivault"
    }

    fn build(&self, identity: &SigningIdentity) -> Option<Result<Arc<dyn Signer>, Unsupported>> {
        let SigningIdentity::Kms { kmsref, auth } = identity else { return None };
        if !kmsref.starts_with(SCHEME) {
            return None;
        }
        let refuse = |why: String| Unsupported {
            what: "hashivault signer",
            key: "signers.kms.kmsref".into(),
            value: kmsref.clone(),
            supported: why,
        };
        let key = match transit::key_name(kmsref) {
            Ok(k) => k.to_string(),
            Err(e) => return Some(Err(refuse(e))),
        };
        let addr = if auth.address.is_empty() {
            std::env::var("VAULT_ADDR").unwrap_or_default()
        } else {
            auth.address.clone()
        };
        let addr = addr.trim_end_matches('/').to_string();
        if !(addr.starts_with("http://") || addr.starts_with("https://")) {
            return Some(Err(refuse("an http(s) signers.kms.auth.address (or VAULT_ADDR)".into())));
        }
        let auth = match Auth::of(auth) {
            Ok(a) => a,
            Err(e) => return Some(Err(refuse(e))),
        };
        let mount = std::env::var("TRANSIT_SECRET_ENGINE_PATH").unwrap_or_else(|_| "transit".into());
        let mount = mount.trim_matches('/').to_string();
        let id = format!("{addr}\n{mount}\n{key}");
        let mut keys = self.keys.lock();
        if let Some(t) = keys.get(&id).filter(|t| t.auth == auth) {
            return Some(Ok(t.clone() as Arc<dyn Signer>));
        }
        let t = Arc::new(Transit {
            http: self.http.clone(),
            requests: self.requests.clone(),
            target: format!("{kmsref} at {addr}"),
            addr,
            mount,
            key,
            auth,
            token: tokio::sync::Mutex::new(None),
            info: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        keys.insert(id, t.clone());
        Some(Ok(t as Arc<dyn Signer>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hidden;

    fn kms(kmsref: &str, address: &str, token: &str) -> SigningIdentity {
        let auth = KmsAuth { address: address.into(), token: Hidden(token.into()), ..KmsAuth::default() };
        SigningIdentity::Kms { kmsref: kmsref.into(), auth }
    }

    fn factory() -> Arc<dyn Factory<SigningIdentity, dyn Signer>> {
        super::factory(&Env::default()).expect("a client builds")
    }

    #[test]
    fn it_serves_only_hashivault_references() {
        let f = factory();
        assert!(f.build(&SigningIdentity::Keys).is_none());
        assert!(f.build(&kms("awskms:///arn:aws:kms:x", "http://127.0.0.1:1", "t")).is_none());
        assert!(matches!(f.build(&kms("hashivault://chains", "http://127.0.0.1:1", "t")), Some(Ok(_))));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        let f = factory();
        let Some(Err(e)) = f.build(&kms("hashivault://a/b", "http://127.0.0.1:1", "t")) else { panic!() };
        assert!(e.supported.contains("KEYNAME"), "{e:?}");
        let Some(Err(e)) = f.build(&kms("hashivault://k", "vault:8200", "t")) else { panic!() };
        assert!(e.supported.contains("signers.kms.auth.address"), "{e:?}");
    }

    #[test]
    fn the_same_key_is_the_same_signer_across_configs() {
        let f = factory();
        let id = kms("hashivault://k", "http://127.0.0.1:1/", "t");
        let (Some(Ok(a)), Some(Ok(b))) = (f.build(&id), f.build(&id)) else { panic!() };
        assert!(Arc::ptr_eq(&a, &b), "its key cache is kept");
        let Some(Ok(c)) = f.build(&kms("hashivault://k", "http://127.0.0.1:1", "other")) else { panic!() };
        assert!(!Arc::ptr_eq(&a, &c), "another token is another signer");
    }

    #[test]
    fn the_token_comes_from_the_first_setting_given() {
        let mut auth = KmsAuth { token: Hidden("t".into()), token_path: "/p".into(), ..KmsAuth::default() };
        assert!(Auth::of(&auth) == Ok(Auth::Token("t".into())));
        auth.token = Hidden(String::new());
        assert!(Auth::of(&auth) == Ok(Auth::TokenFile("/p".into())));
        auth.token_path.clear();
        auth.oidc_role = "chains".into();
        let Ok(Auth::Login { mount, jwt_file, .. }) = Auth::of(&auth) else { panic!() };
        assert_eq!((mount.as_str(), jwt_file.to_str()), ("jwt", Some(SERVICE_ACCOUNT_TOKEN)));
    }
}
