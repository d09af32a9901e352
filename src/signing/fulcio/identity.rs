//! Where the keyless signer's OIDC identity token comes from
//! (`signers.x509.fulcio.provider`), as cosign's providers get it:
//!
//! - `""` or `filesystem`: the file `signers.x509.identity.token.file` (the
//!   projected ServiceAccount token), read each time;
//! - `github`: GitHub Actions' token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`
//!   with `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), audience `sigstore`;
//! - `google`: the GCE/GKE metadata server's identity token for the default
//!   service account (`GCE_METADATA_HOST` overrides `metadata.google.internal`),
//!   audience `sigstore`;
//! - `spiffe`: a JWT-SVID, audience `sigstore`, from the SPIFFE Workload API
//!   (`SPIFFE_ENDPOINT_SOCKET`, else `/tmp/spire-agent/public/api.sock`).

use std::path::PathBuf;

use super::{AUDIENCE, TOKEN_CAP, spiffe};
use crate::http::read_capped;
use crate::remote::{RemoteError, expect_ok, not_sent};

/// One source of identity tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityToken {
    File(PathBuf),
    Github {
        url: String,
        bearer: String,
    },
    Google {
        host: String,
    },
    /// A Workload API endpoint URI.
    Spiffe {
        endpoint: String,
    },
}

impl IdentityToken {
    /// The source `provider` names; `file` for the filesystem one. The error
    /// says what is missing or allowed.
    pub fn of(provider: &str, file: &str) -> Result<Self, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match provider {
            "" | "filesystem" => Ok(Self::File(file.into())),
            "github" => match (var("ACTIONS_ID_TOKEN_REQUEST_URL"), var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) {
                (Some(url), Some(bearer)) => Ok(Self::Github { url, bearer }),
                _ => Err("\"github\" needs ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN \
                          (a GitHub Actions job with id-token: write)"
                    .into()),
            },
            "google" => {
                Ok(Self::Google { host: var("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".into()) })
            }
            "spiffe" => Ok(Self::Spiffe { endpoint: spiffe::endpoint(var("SPIFFE_ENDPOINT_SOCKET")) }),
            _ => Err("\"\", \"filesystem\" (the token file signers.x509.identity.token.file), \"github\", \
                      \"google\" or \"spiffe\""
                .into()),
        }
    }

    /// Where tokens come from, for messages (never a token).
    pub fn describe(&self) -> String {
        match self {
            Self::File(p) => format!("the identity token {}", p.display()),
            Self::Github { .. } => "GitHub Actions' identity token".into(),
            Self::Google { host } => format!("the metadata server {host}'s identity token"),
            Self::Spiffe { endpoint } => format!("the SPIFFE Workload API {endpoint}'s JWT-SVID"),
        }
    }

    /// A token now. Nothing yet (a file not written, a server not answering) is retryable.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<String, RemoteError> {
        let what = self.describe();
        let token = match self {
            Self::File(p) => {
                let missing = |e: String| RemoteError::unreachable(&what, format!("reading it: {e}"), false);
                let meta = std::fs::metadata(p).map_err(|e| missing(e.to_string()))?;
                if meta.len() > TOKEN_CAP as u64 {
                    return Err(RemoteError::invalid(None, format!("over {TOKEN_CAP} bytes")).at(&what));
                }
                std::fs::read_to_string(p).map_err(|e| missing(e.to_string()))?
            }
            Self::Github { url, bearer } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let req = http.get(format!("{url}{sep}audience={AUDIENCE}")).bearer_auth(bearer);
                let res = req.send().await.map_err(|e| not_sent(&what, &e))?;
                let body = expect_ok(&what, res, TOKEN_CAP).await?;
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| RemoteError::invalid(None, format!("reply: {e}")).at(&what))?;
                v.get("value").and_then(|t| t.as_str()).unwrap_or_default().to_string()
            }
            Self::Google { host } => {
                let url = format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/identity?audience={AUDIENCE}&format=full"
                );
                let res =
                    http.get(url).header("Metadata-Flavor", "Google").send().await.map_err(|e| not_sent(&what, &e))?;
                if !res.status().is_success() {
                    return Err(expect_ok(&what, res, TOKEN_CAP)
                        .await
                        .err()
                        .unwrap_or_else(|| RemoteError::invalid(None, "refused".into())));
                }
                let body = read_capped(res, TOKEN_CAP)
                    .await
                    .map_err(|e| RemoteError::invalid(None, e.to_string()).at(&what))?;
                String::from_utf8_lossy(&body).to_string()
            }
            Self::Spiffe { endpoint } => spiffe::fetch(endpoint, &what).await?,
        };
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(RemoteError::unreachable(&what, "empty".into(), false));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::signing::replay::{Handler, Seen, replay};

    #[test]
    fn providers_are_parsed() {
        assert_eq!(IdentityToken::of("", "/t"), Ok(IdentityToken::File("/t".into())));
        assert_eq!(IdentityToken::of("filesystem", "/t"), Ok(IdentityToken::File("/t".into())));
        assert!(matches!(IdentityToken::of("google", ""), Ok(IdentityToken::Google { .. })));
        assert!(matches!(IdentityToken::of("spiffe", ""), Ok(IdentityToken::Spiffe { .. })));
        assert!(IdentityToken::of("vault", "").unwrap_err().contains("\"github\", \"google\" or \"spiffe\""));
    }

    #[tokio::test]
    async fn github_and_google_tokens_are_asked_for_with_audience_sigstore() {
        let handler: Handler = Arc::new(|s: &Seen| {
            if s.line.starts_with("GET /token?run=1&audience=sigstore ") {
                assert!(s.head.to_ascii_lowercase().contains("authorization: bearer gh-request-token"), "{}", s.head);
                return (200, r#"{"count":1,"value":"gh.jwt.sig"}"#.into());
            }
            if s.line.starts_with(
                "GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=sigstore&format=full ",
            ) {
                assert!(
                    s.head.contains("metadata-flavor: Google") || s.head.contains("Metadata-Flavor: Google"),
                    "{}",
                    s.head
                );
                return (200, "gce.jwt.sig".into());
            }
            (404, "{}".into())
        });
        let (base, _) = replay(handler).await;
        let http = reqwest::Client::new();
        let gh = IdentityToken::Github { url: format!("{base}/token?run=1"), bearer: "gh-request-token".into() };
        assert_eq!(gh.fetch(&http).await.unwrap(), "gh.jwt.sig");
        let google = IdentityToken::Google { host: base.trim_start_matches("http://").into() };
        assert_eq!(google.fetch(&http).await.unwrap(), "gce.jwt.sig");
        let e = IdentityToken::File("/nonexistent/token".into()).fetch(&http).await.unwrap_err();
        assert!(e.retryable && e.to_string().contains("/nonexistent/token"), "{e}");
    }
}
