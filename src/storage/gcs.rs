//! `gcs` storage: each signed artifact as objects in `storage.gcs.bucket`,
//! named as upstream names them so what reads upstream's objects finds
//! ours: `<taskrun|pipelinerun>-<namespace>-<name>/<key>.payload` and
//! `.signature`, plus `.cert` and `.chain` when the signer has a
//! certificate (keyless).
//!
//! - `<key>` is the artifact's storage key (`taskrun-<uid>`, or 12 hex of
//!   an image digest); `.payload` holds the signed bytes (the statement,
//!   for in-toto), `.signature` the raw signature (the DSSE envelope, for
//!   in-toto), as upstream writes them.
//! - Credentials: Google's application default credentials (Workload
//!   Identity, a key file, the metadata server), scope `devstorage.read_write`.
//!   With `STORAGE_EMULATOR_HOST` set, as Google's client libraries read it,
//!   requests go there instead, over plain HTTP unless it says `https://`,
//!   without credentials (fake-gcs-server in the tests).
//! - Each object is one JSON API media upload whose reply must name the
//!   object and its size; a second write (a restarted signer) uploads the same names (an
//!   overwrite, never a second copy).
//! - Unlike upstream, a failed upload fails the run (upstream's writer drops
//!   the error of `Close`, where GCS reports it), and key signers get no
//!   empty `.cert`/`.chain` objects (upstream means to skip them, but its
//!   check never fires).

use std::sync::Arc;

use futures::future::try_join_all;
use prometheus_client::metrics::counter::Counter;

use super::{Annotations, Backend};
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{BackendLabel, Env, Factory, Unsupported};
use crate::signing::Signed;
use crate::signing::tokens::GoogleApi;

/// Google's endpoint of the JSON API.
const ENDPOINT: &str = "https://storage.googleapis.com";
/// The environment variable that points Google's clients at an emulator.
pub const EMULATOR_VAR: &str = "STORAGE_EMULATOR_HOST";
/// The OAuth scope of object writes.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// The most an upload's reply (an object resource) may be.
const REPLY_CAP: usize = 64 << 10;

/// One object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// The objects of one signed artifact of `run` (pure).
pub fn objects(run: &Run<'_>, signed: &Signed) -> Vec<Object> {
    let prefix = format!("{}-{}-{}/{}", run.kind.lower(), run.namespace(), run.name(), signed.key);
    let json = "application/json";
    let signature_type = if signed.envelope.is_some() { json } else { "application/octet-stream" };
    let mut out = vec![
        Object { name: format!("{prefix}.signature"), body: signed.stored_signature(), content_type: signature_type },
        Object { name: format!("{prefix}.payload"), body: signed.payload.clone(), content_type: json },
    ];
    if let Some(cert) = &signed.verifier.cert {
        let chain = signed.verifier.chain.as_deref().unwrap_or_default();
        let pem = "application/x-pem-file";
        out.push(Object { name: format!("{prefix}.cert"), body: cert.as_bytes().to_vec(), content_type: pem });
        out.push(Object { name: format!("{prefix}.chain"), body: chain.as_bytes().to_vec(), content_type: pem });
    }
    out
}

/// The media upload URL of `object` in `bucket`.
pub fn upload_url(base: &str, bucket: &str, object: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("{EMULATOR_VAR} {base:?}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("{EMULATOR_VAR} {base:?}: not a base URL"))?
        .pop_if_empty()
        .extend(["upload", "storage", "v1", "b", bucket, "o"]);
    url.query_pairs_mut().append_pair("uploadType", "media").append_pair("name", object);
    Ok(url)
}

/// Checks an upload's reply: the object resource of `object`, `size` bytes.
pub fn check_reply(reply: &[u8], object: &str, size: usize) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(reply).map_err(|e| format!("upload reply: {e}"))?;
    let name = v.get("name").and_then(|n| n.as_str());
    if name != Some(object) {
        return Err(format!("upload reply names object {name:?}, not {object:?}"));
    }
    // The JSON API sends int64 values as strings.
    let stored = match v.get("size") {
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
        Some(n) => n.as_u64(),
        None => None,
    };
    if stored != Some(size as u64) {
        return Err(format!("upload reply gives size {stored:?}, not {size}"));
    }
    Ok(())
}

/// What every `gcs` backend shares (it outlives config changes).
pub struct Shared {
    http: reqwest::Client,
    /// Google's endpoint or the emulator (which takes no credentials).
    api: GoogleApi,
    requests: Counter,
}

/// The `gcs` backend of one chains-config: its bucket.
pub struct Gcs {
    shared: Arc<Shared>,
    bucket: String,
}

impl Gcs {
    async fn upload(&self, object: Object) -> Result<(), RemoteError> {
        let target = format!("gs://{}/{}", self.bucket, object.name);
        let s = &self.shared;
        let url = upload_url(&s.api.base, &self.bucket, &object.name)
            .map_err(|e| RemoteError::invalid(None, e).at(&target))?;
        let size = object.body.len();
        let req = s.http.post(url).header("content-type", object.content_type).body(object.body);
        let req = s.api.authorize(req, &target).await?;
        s.requests.inc();
        let res = req.send().await.map_err(|e| not_sent(&target, &e))?;
        let reply = expect_ok(&target, res, REPLY_CAP).await?;
        check_reply(&reply, &object.name, size).map_err(|e| RemoteError::invalid(None, e).at(target))
    }
}

#[async_trait::async_trait]
impl Backend for Gcs {
    async fn store(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        try_join_all(objects(run, signed).into_iter().map(|o| self.upload(o))).await?;
        Ok(Annotations::new())
    }
}

/// Makes the `gcs` factory: one HTTP client and credential source.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let shared = Shared {
        http: crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?,
        api: GoogleApi::from_env(ENDPOINT, EMULATOR_VAR, SCOPE, None),
        requests: env.storage_requests.get_or_create(&BackendLabel { backend: StorageKind::Gcs.as_str() }).clone(),
    };
    Some(Arc::new(Arc::new(shared)))
}

impl Factory<Storage, dyn Backend> for Arc<Shared> {
    fn name(&self) -> &'static str {
        StorageKind::Gcs.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::Gcs { bucket } = section else { return None };
        Some(Ok(Arc::new(Gcs { shared: self.clone(), bucket: bucket.clone() })))
    }
}

#[cfg(test)]
mod tests;
