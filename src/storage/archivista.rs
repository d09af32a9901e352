//! `archivista` storage: each run's in-toto provenance uploaded to the
//! Archivista server at `storage.archivista.url` (`POST /upload`, the DSSE
//! envelope as Archivista's API takes it), and the `gitoid` it answers
//! recorded on the run, as upstream records it:
//! `chains.tekton.dev/archivista-gitoid` and `chains.tekton.dev/archivista-url`.
//!
//! Where we differ from upstream:
//! - we upload the envelope that was signed, so `cosign verify-blob-attestation`
//!   verifies what `GET /download/<gitoid>` returns; upstream wraps the
//!   statement in a new envelope whose "signature" is the whole signed
//!   envelope (its signer's output), which verifies with nothing;
//! - the annotations go in the run's one final patch (upstream patches the
//!   run once more, per artifact);
//! - Archivista answers 500 to an envelope it already has (a retry whose
//!   first reply was lost, a deterministic signature of the same bytes);
//!   we then ask for the envelope's gitoid (computed as Archivista does)
//!   and count it stored when Archivista serves it;
//! - Archivista holds in-toto attestations only, so a config that sends it
//!   image signatures (`artifacts.oci.storage`) or `tekton`-format runs is
//!   refused whole; upstream's uploads of those fail run by run.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use super::{Annotations, Backend};
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{BackendLabel, Env, Factory, Unsupported};
use crate::signing::{Signed, Subject};
use crate::tekton::annotations::{ARCHIVISTA_GITOID, ARCHIVISTA_URL};

/// The most an upload's reply (`{"gitoid": …}`) may be.
const REPLY_CAP: usize = 16 << 10;

/// The upload URL under `base` (`storage.archivista.url`).
pub fn upload_url(base: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base.trim()).map_err(|e| format!("{base:?}: {e}"))?;
    url.path_segments_mut().map_err(|()| format!("{base:?}: not a base URL"))?.pop_if_empty().push("upload");
    Ok(url)
}

/// The gitoid Archivista gives `bytes`: the SHA-256 git object id of a
/// blob holding them (`sha256("blob <len>\0" + bytes)`).
pub fn gitoid_of(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The gitoid of an upload's reply: 64 lowercase hex (a SHA-256 gitoid).
pub fn gitoid(reply: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(reply).map_err(|e| format!("upload reply: {e}"))?;
    match v.get("gitoid").and_then(Value::as_str) {
        Some(g) if g.len() == 64 && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(g.to_string())
        }
        other => Err(format!("upload reply has no gitoid: {other:?}")),
    }
}

/// What every `archivista` backend shares.
pub struct Shared {
    http: reqwest::Client,
    requests: Counter,
}

/// The `archivista` backend of one chains-config: its server.
pub struct Archivista {
    shared: Arc<Shared>,
    url: String,
}

impl Archivista {
    /// True when Archivista serves `gitoid` (`GET /download/<gitoid>`).
    async fn has(&self, gitoid: &str) -> bool {
        let Ok(mut url) = url::Url::parse(&self.url) else { return false };
        let Ok(mut segments) = url.path_segments_mut() else { return false };
        segments.pop_if_empty().extend(["download", gitoid]);
        drop(segments);
        self.shared.requests.inc();
        self.shared.http.get(url).send().await.is_ok_and(|r| r.status().is_success())
    }
}

#[async_trait::async_trait]
impl Backend for Archivista {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let target = format!("archivista {}", self.url);
        let envelope = signed.envelope.as_ref().ok_or_else(|| {
            RemoteError::invalid(None, format!("{} is not an in-toto attestation", signed.key)).at(&target)
        })?;
        let url = upload_url(&self.url).map_err(|e| RemoteError::invalid(None, e).at(&target))?;
        let body = serde_json::to_vec(envelope).map_err(|e| RemoteError::invalid(None, e.to_string()).at(&target))?;
        let ours = gitoid_of(&body);
        let s = &self.shared;
        s.requests.inc();
        let sent = s.http.post(url).header("content-type", "application/json").body(body).send().await;
        let res = sent.map_err(|e| not_sent(&target, &e))?;
        let gitoid = match expect_ok(&target, res, REPLY_CAP).await {
            Ok(reply) => gitoid(&reply).map_err(|e| RemoteError::invalid(None, e).at(&target))?,
            // Archivista answers 500 to an envelope it already has (a retry
            // whose first reply was lost, or a key that signs the same bytes
            // the same way): if it serves this envelope, it is stored.
            Err(e) if e.status.is_some_and(|c| c >= 500) && self.has(&ours).await => ours,
            Err(e) => return Err(e),
        };
        let mut out = Annotations::new();
        if matches!(signed.subject, Subject::Run) {
            out.insert(ARCHIVISTA_GITOID.into(), gitoid);
            out.insert(ARCHIVISTA_URL.into(), self.url.clone());
        }
        Ok(out)
    }
}

/// Makes the `archivista` factory: one HTTP client.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let shared = Shared {
        http: crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?,
        requests: env
            .storage_requests
            .get_or_create(&BackendLabel { backend: StorageKind::Archivista.as_str() })
            .clone(),
    };
    Some(Arc::new(Arc::new(shared)))
}

impl Factory<Storage, dyn Backend> for Arc<Shared> {
    fn name(&self) -> &'static str {
        StorageKind::Archivista.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::Archivista { url } = section else { return None };
        Some(Ok(Arc::new(Archivista { shared: self.clone(), url: url.trim().to_string() })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitoids_are_git_sha256_blob_ids() {
        // As Archivista v0.10.0 answered for these bytes.
        let body = br#"{"payload":"e30=","payloadType":"x","signatures":[]}"#;
        use sha2::Digest as _;
        let want: String =
            sha2::Sha256::digest([&b"blob 52\0"[..], body].concat()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(gitoid_of(body), want);
        assert_eq!(gitoid_of(b""), "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813");
    }

    #[test]
    fn the_upload_url_and_the_gitoid_reply() {
        assert_eq!(upload_url("http://127.0.0.1:8082").unwrap().as_str(), "http://127.0.0.1:8082/upload");
        assert_eq!(upload_url("https://a.example/base/").unwrap().as_str(), "https://a.example/base/upload");
        let g = "60abab788d089ac35f6c62469af512c311a322065615d6f1581535198e193f84";
        assert_eq!(gitoid(format!(r#"{{"gitoid":"{g}"}}"#).as_bytes()).unwrap(), g);
        for bad in [&b"{}"[..], br#"{"gitoid":"../x"}"#, br#"{"gitoid":1}"#, b"<html>", br#"{"gitoid":"ABC"}"#] {
            assert!(gitoid(bad).is_err(), "{bad:?}");
        }
    }
}
