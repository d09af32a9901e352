//! `grafeas` storage: signed artifacts as Grafeas occurrences in project
//! `storage.grafeas.projectid`, as upstream writes them to Container
//! Analysis (Grafeas v1), so what reads upstream's occurrences reads ours:
//!
//! - an image's simplesigning signature: an `ATTESTATION` occurrence on
//!   `<repo>@sha256:<hex>` under note `<noteid>-simplesigning` (an
//!   attestation note whose hint is `storage.grafeas.notehint`);
//! - a run's in-toto provenance: one `BUILD` occurrence per subject
//!   (`<name>@<algo>:<digest>`) under note `<noteid>-<taskrun|pipelinerun>-intoto`
//!   (a build note whose builder version is the run's `apiVersion/Kind`);
//! - both carry the DSSE-like `envelope` upstream sets: the signed bytes,
//!   their payload type, and the signature (the DSSE envelope JSON, for
//!   in-toto, as upstream passes it).
//!
//! `<noteid>` defaults to `tekton-<namespace>` of each run. Notes are made
//! at first use (`AlreadyExists` is fine) and remembered, so a run costs one
//! request per occurrence, not one more per note as upstream's. Occurrences
//! are appended, not put, so a retry skips those already written.
//!
//! Where upstream's writes are refused by Grafeas's own validators, we
//! write what they accept:
//! - a signature's `publicKeyId` (and the envelope's `keyid`) is the key's
//!   RFC 6920 `ni:///sha-256;…` URI, what Grafeas and Binary Authorization
//!   take for PKIX keys (upstream puts `signers.kms.kmsref`, empty for x509
//!   keys: "public key ID is required");
//! - an empty `storage.grafeas.notehint` becomes upstream's old fixed hint
//!   ("human_readable_name is required");
//! - upstream's default note id sticks to the first run's namespace for
//!   every later run (it writes the default into its config); ours follows
//!   each run's namespace;
//! - SLSA v1 predicates (`slsa/v2alpha3`, `slsa/v2alpha4`) go in
//!   `inTotoSlsaProvenanceV1`; upstream reads them as v0.2, which leaves
//!   the occurrence's provenance empty.
//!
//! Endpoint: Container Analysis with Google's application default
//! credentials (scope `cloud-platform`), or, with `GRAFEAS_SERVER` set
//! (`host:port` means plain HTTP), that Grafeas server, without credentials.

mod occurrence;

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

pub use occurrence::{Notes, Planned, build_details, key_id, occurrences, subject_uris};

use super::{Annotations, Backend};
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::http::REQUEST_TIMEOUT;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::seam::{BackendLabel, Env, Factory, Unsupported};
use crate::signing::Signed;
use crate::signing::tokens::GoogleApi;

/// Container Analysis, Google's Grafeas.
const ENDPOINT: &str = "https://containeranalysis.googleapis.com";
/// Points the backend at another Grafeas server.
pub const SERVER_VAR: &str = "GRAFEAS_SERVER";
/// The OAuth scope upstream asks for.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The most a reply (one note or occurrence, echoing what was sent) may be.
const REPLY_CAP: usize = 4 << 20;
/// Occurrences remembered as written, so a retry of an artifact with
/// several subjects does not write again those that succeeded.
const WRITTEN_CAP: usize = 4096;

/// The URL of `path` (`projects/P/notes`…) under `base`, with `query`.
pub fn api_url(base: &str, path: &str, query: &[(&str, &str)]) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("{SERVER_VAR} {base:?}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("{SERVER_VAR} {base:?}: not a base URL"))?
        .pop_if_empty()
        .push("v1")
        .extend(path.split('/'));
    for (k, v) in query {
        url.query_pairs_mut().append_pair(k, v);
    }
    Ok(url)
}

/// Checks a create reply: a resource whose name starts with `prefix`.
pub fn check_reply(reply: &[u8], prefix: &str) -> Result<String, String> {
    let v: Value = serde_json::from_slice(reply).map_err(|e| format!("reply: {e}"))?;
    match v.get("name").and_then(Value::as_str) {
        Some(n) if n.starts_with(prefix) => Ok(n.to_string()),
        other => Err(format!("reply names {other:?}, not {prefix}…")),
    }
}

/// What every `grafeas` backend shares (it outlives config changes).
pub struct Shared {
    http: reqwest::Client,
    api: GoogleApi,
    requests: Counter,
    /// Notes known to exist (full names).
    notes: Mutex<HashSet<String>>,
    /// Occurrences written lately: run uid, storage key, resource, payload digest.
    written: Mutex<lru::LruCache<String, ()>>,
}

impl Shared {
    async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &Value,
        target: &str,
    ) -> Result<Vec<u8>, RemoteError> {
        let url = api_url(&self.api.base, path, query).map_err(|e| RemoteError::invalid(None, e).at(target))?;
        let req = self.api.authorize(self.http.post(url).json(body), target).await?;
        self.requests.inc();
        let res = req.send().await.map_err(|e| not_sent(target, &e))?;
        expect_ok(target, res, REPLY_CAP).await
    }

    /// Makes note `id` of `project` unless it is known to exist.
    async fn ensure_note(&self, project: &str, id: &str, note: &Value) -> Result<(), RemoteError> {
        let full = format!("projects/{project}/notes/{id}");
        if self.notes.lock().contains(&full) {
            return Ok(());
        }
        let target = format!("grafeas note {full}");
        match self.post(&format!("projects/{project}/notes"), &[("noteId", id)], note, &target).await {
            Ok(reply) => {
                check_reply(&reply, &full).map_err(|e| RemoteError::invalid(None, e).at(&target))?;
            }
            Err(e) if e.status == Some(409) => {}
            Err(e) => return Err(e),
        }
        self.notes.lock().insert(full);
        Ok(())
    }
}

/// The `grafeas` backend of one chains-config.
pub struct Grafeas {
    shared: Arc<Shared>,
    project: String,
    notes: Notes,
}

#[async_trait::async_trait]
impl Backend for Grafeas {
    async fn store(&self, run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let s = &self.shared;
        let project = &self.project;
        let planned = occurrences(run, signed, project, &self.notes)
            .map_err(|e| RemoteError::invalid(None, e).at(format!("grafeas project {project}")))?;
        s.ensure_note(project, &planned.note_id, &planned.note).await?;
        let path = format!("projects/{project}/occurrences");
        let prefix = format!("{path}/");
        let digest = crate::transparency::entry::sha256_hex(&signed.payload);
        for occ in &planned.occurrences {
            let uri = occ.get("resourceUri").and_then(Value::as_str).unwrap_or_default();
            let id = format!("{}/{}/{uri}/{digest}", run.uid(), signed.key);
            if s.written.lock().contains(&id) {
                continue;
            }
            let target = format!("grafeas occurrence of {uri} under projects/{project}/notes/{}", planned.note_id);
            match s.post(&path, &[], occ, &target).await {
                Ok(reply) => {
                    check_reply(&reply, &prefix).map_err(|e| RemoteError::invalid(None, e).at(&target))?;
                    s.written.lock().put(id, ());
                }
                // The note was deleted since: make it again on the next attempt.
                Err(mut e) if e.status == Some(404) => {
                    s.notes.lock().remove(&format!("projects/{project}/notes/{}", planned.note_id));
                    e.retryable = true;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Annotations::new())
    }
}

/// Makes the `grafeas` factory: one HTTP client, credential source and
/// note cache.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let shared = Shared {
        http: crate::http::client_builder(env.http_timeout.unwrap_or(REQUEST_TIMEOUT)).build().ok()?,
        api: GoogleApi::from_env(ENDPOINT, SERVER_VAR, SCOPE, None),
        requests: env.storage_requests.get_or_create(&BackendLabel { backend: StorageKind::Grafeas.as_str() }).clone(),
        notes: Mutex::new(HashSet::new()),
        written: Mutex::new(lru::LruCache::new(std::num::NonZeroUsize::new(WRITTEN_CAP)?)),
    };
    Some(Arc::new(Arc::new(shared)))
}

impl Factory<Storage, dyn Backend> for Arc<Shared> {
    fn name(&self) -> &'static str {
        StorageKind::Grafeas.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::Grafeas { project_id, note_id, note_hint } = section else { return None };
        let notes = Notes { id: note_id.clone(), hint: note_hint.clone() };
        Some(Ok(Arc::new(Grafeas { shared: self.clone(), project: project_id.clone(), notes })))
    }
}

#[cfg(test)]
mod tests;
