//! Where the cloud edges (gcpkms, azurekms, gcs and firestore storage) get
//! OAuth access tokens: one trait, so their HTTP edges are tested with a
//! fixed token.

use crate::remote::RemoteError;

/// A source of bearer tokens (cached and renewed by the implementation).
#[async_trait::async_trait]
pub trait Tokens: Send + Sync {
    /// A token valid now.
    async fn bearer(&self) -> Result<String, RemoteError>;
}

/// Google's application default credentials for one OAuth scope, found
/// at first use: `GOOGLE_APPLICATION_CREDENTIALS` (a service account key
/// file), the metadata server (GKE Workload Identity, GCE), or gcloud's
/// user login.
pub struct GoogleCredentials {
    provider: tokio::sync::OnceCell<std::sync::Arc<dyn gcp_auth::TokenProvider>>,
    scope: &'static str,
}

impl GoogleCredentials {
    pub fn new(scope: &'static str) -> Self {
        Self { provider: tokio::sync::OnceCell::new(), scope }
    }
}

#[async_trait::async_trait]
impl Tokens for GoogleCredentials {
    async fn bearer(&self) -> Result<String, RemoteError> {
        let fail = |e: gcp_auth::Error| RemoteError::unreachable("Google credentials", e.to_string(), false);
        let provider = self.provider.get_or_try_init(gcp_auth::provider).await.map_err(fail)?;
        Ok(provider.token(&[self.scope]).await.map_err(fail)?.as_str().to_string())
    }
}

/// A Google API as Google's client libraries reach it: Google's endpoint
/// with application default credentials of one scope, or, when the
/// library's `*_EMULATOR_HOST` variable is set, that emulator over plain
/// HTTP with the emulator's own bearer (if it wants one) and no credentials.
pub struct GoogleApi {
    /// The base URL requests are made under.
    pub base: String,
    auth: GoogleAuth,
}

enum GoogleAuth {
    Credentials(std::sync::Arc<dyn Tokens>),
    Emulator(Option<&'static str>),
}

impl GoogleApi {
    /// `endpoint`, or the emulator environment variable `var` names; an
    /// emulator gets `emulator_bearer`, Google tokens of `scope`.
    pub fn from_env(endpoint: &str, var: &str, scope: &'static str, emulator_bearer: Option<&'static str>) -> Self {
        let base = crate::http::google_or_emulator(endpoint, std::env::var(var).ok().as_deref());
        let auth = if base == endpoint {
            GoogleAuth::Credentials(std::sync::Arc::new(GoogleCredentials::new(scope)))
        } else {
            GoogleAuth::Emulator(emulator_bearer)
        };
        Self { base, auth }
    }

    /// `req` with the bearer this API takes; errors name `target`.
    pub async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        target: &str,
    ) -> Result<reqwest::RequestBuilder, RemoteError> {
        Ok(match &self.auth {
            GoogleAuth::Credentials(tokens) => req.bearer_auth(tokens.bearer().await.map_err(|e| e.at(target))?),
            GoogleAuth::Emulator(Some(bearer)) => req.bearer_auth(bearer),
            GoogleAuth::Emulator(None) => req,
        })
    }
}

/// A fixed token, for tests of the HTTP edges.
#[cfg(test)]
pub struct Fixed(pub &'static str);

#[cfg(test)]
#[async_trait::async_trait]
impl Tokens for Fixed {
    async fn bearer(&self) -> Result<String, RemoteError> {
        Ok(self.0.to_string())
    }
}

/// A cloud KMS edge: requests with a bearer token, counted, their replies
/// read to a cap; errors name `target` (the kmsref), never the token.
pub struct Bearer {
    pub http: reqwest::Client,
    pub tokens: std::sync::Arc<dyn Tokens>,
    pub requests: prometheus_client::metrics::counter::Counter,
    pub target: String,
}

impl Bearer {
    /// A reply that is not what the API documents: permanent.
    pub fn invalid(&self, message: String) -> super::SignError {
        super::SignError::Remote(RemoteError::invalid(None, message).at(&self.target))
    }

    /// Sends `req` with a token; the body of a 2xx reply (at most `cap` bytes).
    pub async fn call(&self, req: reqwest::RequestBuilder, cap: usize) -> Result<Vec<u8>, super::SignError> {
        let token = self.tokens.bearer().await.map_err(|e| e.at(&self.target))?;
        self.requests.inc();
        let res = req.bearer_auth(token).send().await.map_err(|e| crate::remote::not_sent(&self.target, &e))?;
        Ok(crate::remote::expect_ok(&self.target, res, cap).await?)
    }
}
