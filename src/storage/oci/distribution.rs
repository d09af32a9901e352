//! The OCI distribution protocol, as much of it as appending a layer takes:
//! read a tag's manifest, upload blobs, push a manifest, and the registry's
//! auth challenges (Basic, or a Bearer token from the realm it names).
//!
//! Written on reqwest rather than oci-client because every answer here comes
//! from a registry a tenant names: oci-client reads manifests, tokens and
//! error bodies whole, with no size limit. Here every body is capped
//! ([`MANIFEST_CAP`], [`TOKEN_CAP`], [`crate::http::ERROR_BODY_CAP`]),
//! every request has a total timeout, and credentials never leave for
//! another host than the registry or the token realm it names.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;
use reqwest::{StatusCode, header};
use zeroize::Zeroizing;

use super::auth::Credential;
use crate::http::{self, BodyError, error_chain, read_capped};
use crate::remote::RemoteError;

/// Largest manifest read: distribution's own limit for manifests.
pub const MANIFEST_CAP: usize = 4 << 20;
/// Largest token endpoint answer read.
pub const TOKEN_CAP: usize = 1 << 20;
/// Token cache entries (registry × repository × credential).
const TOKENS_KEPT: usize = 1024;
/// How long a token without `expires_in` is used (the spec's default).
const DEFAULT_TOKEN_SECS: u64 = 60;

/// Where a registry is reached: `http(s)://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: String,
    /// Plain http, or TLS without verification: credentials may still go
    /// to the token realm only on the same terms.
    pub insecure: bool,
}

/// Who a request is made as.
pub type Who<'a> = Option<&'a Credential>;

/// A cached `Authorization` value.
#[derive(Clone)]
struct Token {
    header: Arc<Zeroizing<String>>,
    until: Instant,
}

/// Registry HTTP with auth challenges answered and tokens cached.
pub struct Distribution {
    tokens: Mutex<lru::LruCache<String, Token>>,
}

impl Default for Distribution {
    fn default() -> Self {
        let n = std::num::NonZeroUsize::new(TOKENS_KEPT).expect("non-zero");
        Self { tokens: Mutex::new(lru::LruCache::new(n)) }
    }
}

/// A manifest as read: its bytes and the media type the registry named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub media_type: Option<String>,
}

/// Manifest media types read and written.
pub const ACCEPT_MANIFESTS: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// What an image reference may name: a manifest or an index / manifest list.
pub const ACCEPT_IMAGES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

impl Distribution {
    /// The manifest a tag or digest holds (`None` for a 404), at most
    /// [`MANIFEST_CAP`] bytes, with its `Content-Type`; `accept` lists the
    /// media types asked for.
    #[allow(clippy::too_many_arguments)]
    pub async fn manifest(
        &self,
        http: &reqwest::Client,
        ep: &Endpoint,
        repo: &str,
        reference: &str,
        accept: &str,
        who: Who<'_>,
    ) -> Result<Option<Fetched>, RemoteError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", ep.base);
        let res =
            self.send(http, ep, repo, who, |c| c.get(&url).header(header::ACCEPT, accept).body(Vec::new())).await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let media_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                let media_type = media_type.map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
                let body = read_capped(res, MANIFEST_CAP).await.map_err(|e| body_error(&url, e))?;
                Ok(Some(Fetched { body, media_type }))
            }
            _ => Err(refused(&format!("GET {url}"), res).await),
        }
    }

    /// Uploads a blob (a POST for an upload session, then a PUT of the bytes).
    pub async fn push_blob(
        &self,
        http: &reqwest::Client,
        ep: &Endpoint,
        repo: &str,
        digest: &str,
        data: &[u8],
        who: Who<'_>,
    ) -> Result<(), RemoteError> {
        let start = format!("{}/v2/{repo}/blobs/uploads/", ep.base);
        let res = self.send(http, ep, repo, who, |c| c.post(&start).body(Vec::new())).await?;
        if res.status() != StatusCode::ACCEPTED {
            return Err(refused(&format!("POST {start}"), res).await);
        }
        let location = res.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_string);
        let location = upload_url(&ep.base, location.as_deref())?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let res = self
            .send(http, ep, repo, who, |c| {
                c.put(&put).header(header::CONTENT_TYPE, "application/octet-stream").body(data.to_vec())
            })
            .await?;
        if !res.status().is_success() {
            return Err(refused(&format!("PUT blob {digest}"), res).await);
        }
        Ok(())
    }

    /// Pushes a manifest to a tag or digest; `Ok(true)` when the registry
    /// answered `OCI-Subject` (it keeps the Referrers API's list itself).
    #[allow(clippy::too_many_arguments)]
    pub async fn push_manifest(
        &self,
        http: &reqwest::Client,
        ep: &Endpoint,
        repo: &str,
        tag: &str,
        media_type: &str,
        manifest: &[u8],
        who: Who<'_>,
    ) -> Result<bool, RemoteError> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", ep.base);
        let res = self
            .send(http, ep, repo, who, |c| c.put(&url).header(header::CONTENT_TYPE, media_type).body(manifest.to_vec()))
            .await?;
        if !res.status().is_success() {
            return Err(refused(&format!("PUT {url}"), res).await);
        }
        Ok(res.headers().contains_key("oci-subject"))
    }

    /// Sends a request with the cached authorization for `repo` as `who`; on
    /// a 401 answers the challenge once (with `who`'s credentials, if any)
    /// and sends it again.
    async fn send(
        &self,
        http: &reqwest::Client,
        ep: &Endpoint,
        repo: &str,
        who: Who<'_>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RemoteError> {
        let key = token_key(&ep.base, repo, who);
        let cached = self.tokens.lock().get(&key).filter(|t| t.until > Instant::now()).cloned();
        let req = |auth: Option<&Token>| {
            let r = build(http);
            match auth {
                Some(t) => r.header(header::AUTHORIZATION, t.header.as_str()),
                None => r,
            }
        };
        let res = req(cached.as_ref()).send().await.map_err(unreachable)?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let challenge = res.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let Some(challenge) = challenge.and_then(|c| Challenge::parse(&c)) else {
            return Err(refused("request", res).await);
        };
        let token = match challenge {
            Challenge::Basic => {
                let Some(c) = who else {
                    return Err(refused("request (the registry asks for credentials)", res).await);
                };
                let raw = Zeroizing::new(format!("{}:{}", c.username, c.password.as_str()));
                let header = Zeroizing::new(format!("Basic {}", STANDARD.encode(raw.as_bytes())));
                Token { header: Arc::new(header), until: Instant::now() + Duration::from_secs(300) }
            }
            Challenge::Bearer { realm, service } => {
                let scope = format!("repository:{repo}:pull,push");
                self.fetch_token(http, ep, &realm, service.as_deref(), &scope, who).await?
            }
        };
        self.tokens.lock().put(key, token.clone());
        req(Some(&token)).send().await.map_err(unreachable)
    }

    /// Asks the realm a registry named for a token.
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        ep: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        who: Who<'_>,
    ) -> Result<Token, RemoteError> {
        let mut url = url::Url::parse(realm).map_err(|_| {
            RemoteError::invalid(None, format!("token realm {:?} is not a URL", http::excerpt(realm.as_bytes(), 100)))
        })?;
        // Credentials go over TLS only, unless the registry itself is plain or insecure.
        if url.scheme() != "https" && !(url.scheme() == "http" && ep.insecure) {
            return Err(RemoteError::invalid(None, format!("token realm {url} is not https")));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = http.get(url.clone());
        if let Some(c) = who {
            req = req.basic_auth(&c.username, Some(c.password.as_str()));
        }
        let what = format!("token endpoint {}", url.origin().ascii_serialization());
        let res = req.send().await.map_err(unreachable)?;
        if !res.status().is_success() {
            return Err(refused(&what, res).await);
        }
        let body = Zeroizing::new(read_capped(res, TOKEN_CAP).await.map_err(|e| body_error(&what, e))?);
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            RemoteError::invalid(None, format!("{what}: the answer is not a token (JSON with \"token\")"))
        })?;
        let expires_in = answer.expires_in;
        let (token, access) = (answer.token.map(Zeroizing::new), answer.access_token.map(Zeroizing::new));
        let value = token.or(access).filter(|t| !t.is_empty());
        let Some(value) = value else {
            return Err(RemoteError::invalid(None, format!("{what}: the answer holds no token")));
        };
        if value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(RemoteError::invalid(None, format!("{what}: the token is not a header-safe string")));
        }
        let secs = expires_in.unwrap_or(DEFAULT_TOKEN_SECS).clamp(10, 3600);
        // Renew a little early, so a token never expires mid-append.
        let until = Instant::now() + Duration::from_secs(secs.saturating_sub(5).max(5));
        Ok(Token { header: Arc::new(Zeroizing::new(format!("Bearer {}", value.as_str()))), until })
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

impl Challenge {
    /// Reads `Basic realm=…` or `Bearer realm="…",service="…",scope="…"`.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut realm = None;
        let mut service = None;
        for part in split_params(params) {
            let Some((k, v)) = part.split_once('=') else { continue };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "realm" => realm = Some(v),
                "service" => service = Some(v),
                _ => {}
            }
        }
        Some(Self::Bearer { realm: realm?, service })
    }
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The upload URL from a `Location` header: relative to the registry, or
/// absolute on the registry itself (never another host, which would get the
/// credentials and the upload).
pub fn upload_url(base: &str, location: Option<&str>) -> Result<String, RemoteError> {
    let Some(location) = location.filter(|l| !l.is_empty()) else {
        return Err(RemoteError::invalid(None, "the registry started an upload without a Location".into()));
    };
    let base_url =
        url::Url::parse(base).map_err(|e| RemoteError::invalid(None, format!("registry URL {base}: {e}")))?;
    let joined = base_url.join(location).map_err(|_| {
        RemoteError::invalid(
            None,
            format!("upload Location {:?} is not a URL", http::excerpt(location.as_bytes(), 100)),
        )
    })?;
    if !http::same_origin(&base_url, &joined) {
        return Err(RemoteError::invalid(
            None,
            format!("upload Location on another host ({}); refused", joined.origin().ascii_serialization()),
        ));
    }
    Ok(joined.to_string())
}

fn token_key(base: &str, repo: &str, who: Who<'_>) -> String {
    format!("{base}\n{repo}\n{}", who.map(fingerprint).unwrap_or_default())
}

/// A credential's identity for caches: a hash, never the secret.
pub fn fingerprint(c: &Credential) -> String {
    let mut bytes = Zeroizing::new(Vec::new());
    for part in [c.registry.as_bytes(), c.username.as_bytes(), c.password.as_bytes()] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    super::layout::sha256_digest(&bytes)
}

fn unreachable(e: reqwest::Error) -> RemoteError {
    // Too slow is not "down": a timeout counts like any other failure.
    let (what, unavailable) = if e.is_timeout() { ("timed out", false) } else { ("unreachable", true) };
    RemoteError {
        target: String::new(),
        status: None,
        message: format!("{what}: {}", error_chain(&e)),
        retryable: true,
        unavailable,
    }
}

fn body_error(what: &str, e: BodyError) -> RemoteError {
    RemoteError::invalid(None, format!("{what}: {e}"))
}

/// A non-2xx answer: its status and the registry's error, as an excerpt.
async fn refused(what: &str, res: reqwest::Response) -> RemoteError {
    let status = res.status();
    let body: Vec<u8> = read_capped(res, http::ERROR_BODY_CAP).await.unwrap_or_default();
    // Registries answer `{"errors":[{"code":"…","message":"…"}]}`.
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?;
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
            let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or_default();
            Some(format!("{code}: {msg}"))
        })
        .map(|d| http::excerpt(d.as_bytes(), http::EXCERPT_CHARS))
        .unwrap_or_else(|| http::excerpt(&body, http::EXCERPT_CHARS));
    let code = status.as_u16();
    let unavailable = status.is_server_error() || matches!(code, 408 | 429);
    RemoteError {
        target: String::new(),
        status: Some(code),
        message: format!("{what}: HTTP {code}: {detail}"),
        retryable: true,
        unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read() {
        assert_eq!(Challenge::parse(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer { realm: "https://auth.example/token".into(), service: Some("reg".into()) })
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse(""), None);
    }

    #[test]
    fn upload_locations_stay_on_the_registry() {
        let base = "https://r.example:5443";
        assert_eq!(
            upload_url(base, Some("/v2/a/blobs/uploads/1?x=y")).unwrap(),
            "https://r.example:5443/v2/a/blobs/uploads/1?x=y"
        );
        assert_eq!(upload_url(base, Some("https://r.example:5443/v2/a/u")).unwrap(), "https://r.example:5443/v2/a/u");
        assert!(upload_url(base, Some("https://evil.example/steal")).unwrap_err().message.contains("another host"));
        assert!(upload_url(base, Some("http://r.example:5443/v2/a/u")).is_err());
        assert!(upload_url(base, None).is_err());
    }
}
