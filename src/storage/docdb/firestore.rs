//! `docdb` on `firestore://projects/P/databases/D/documents/COLL?name_field=Name`:
//! the document as go-cloud's gcpfirestore writes it, named by the
//! `name_field`'s value (which is not kept among the fields), Go's field
//! names, JSON numbers as doubles, `Signed` as bytes. One REST `PATCH` of
//! the whole document per artifact (an upsert), whose reply must name it.
//!
//! Credentials: Google's application default credentials (Workload
//! Identity, a key file, the metadata server), scope `datastore`. With
//! `FIRESTORE_EMULATOR_HOST` set, as Google's client libraries read it,
//! requests go there over plain HTTP as the emulator's `owner`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value, json};

use super::{Document, Driver};
use crate::config::docdb::Collection;
use crate::remote::{RemoteError, expect_ok, not_sent};
use crate::signing::tokens::GoogleApi;

/// Google's endpoint.
pub const ENDPOINT: &str = "https://firestore.googleapis.com";
/// The environment variable that points Google's clients at an emulator.
pub const EMULATOR_VAR: &str = "FIRESTORE_EMULATOR_HOST";
/// The OAuth scope of document writes.
const SCOPE: &str = "https://www.googleapis.com/auth/datastore";
/// The most a reply (the document, at most 1 MiB in Firestore) may be.
const REPLY_CAP: usize = 2 << 20;

/// The REST body of `doc`: its fields, without the name field (pure).
pub fn body(doc: Document, name_field: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("Signed".into(), json!({ "bytesValue": STANDARD.encode(&doc.signed) }));
    fields.insert("Signature".into(), string(doc.signature));
    fields.insert("Cert".into(), string(doc.cert));
    fields.insert("Chain".into(), string(doc.chain));
    fields.insert("Object".into(), value(doc.object));
    fields.insert("Name".into(), string(doc.name));
    fields.remove(name_field);
    json!({ "fields": fields })
}

fn string(s: String) -> Value {
    json!({ "stringValue": s })
}

/// JSON as go-cloud encodes a Go `interface{}` decoded from it.
pub fn value(v: Value) -> Value {
    match v {
        Value::Null => json!({ "nullValue": null }),
        Value::Bool(b) => json!({ "booleanValue": b }),
        Value::Number(n) => json!({ "doubleValue": n.as_f64().unwrap_or_default() }),
        Value::String(s) => string(s),
        Value::Array(a) => json!({ "arrayValue": { "values": a.into_iter().map(value).collect::<Vec<_>>() } }),
        Value::Object(m) => {
            let fields: Map<String, Value> = m.into_iter().map(|(k, v)| (k, value(v))).collect();
            json!({ "mapValue": { "fields": fields } })
        }
    }
}

/// The URL of document `id` under collection `path`.
pub fn document_url(base: &str, path: &str, id: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("{EMULATOR_VAR} {base:?}: {e}"))?;
    let mut segments = url.path_segments_mut().map_err(|()| format!("{EMULATOR_VAR} {base:?}: not a base URL"))?;
    segments.pop_if_empty().push("v1").extend(path.split('/')).push(id);
    drop(segments);
    Ok(url)
}

/// Checks a reply: the document resource named `…/<id>`.
pub fn check_reply(reply: &[u8], id: &str) -> Result<(), String> {
    let v: Value = serde_json::from_slice(reply).map_err(|e| format!("reply: {e}"))?;
    let name = v.get("name").and_then(Value::as_str);
    match name.and_then(|n| n.rsplit_once('/')) {
        Some((_, last)) if last == id => Ok(()),
        _ => Err(format!("reply names document {name:?}, not …/{id}")),
    }
}

/// What every Firestore collection shares.
pub struct Clients {
    http: reqwest::Client,
    /// Google's endpoint or the emulator (as its `owner`).
    api: GoogleApi,
    requests: Counter,
}

impl Clients {
    pub fn new(requests: Counter, http: reqwest::Client) -> Self {
        Self { http, api: GoogleApi::from_env(ENDPOINT, EMULATOR_VAR, SCOPE, Some("owner")), requests }
    }
}

/// One `firestore://` collection.
pub struct Firestore {
    clients: Arc<Clients>,
    path: String,
    name_field: String,
    target: String,
}

impl Firestore {
    /// `collection` must be a [`Collection::Firestore`].
    pub fn new(clients: Arc<Clients>, collection: Collection, target: String) -> Self {
        let Collection::Firestore { path, name_field } = collection else {
            unreachable!("docdb builds Firestore from firestore:// collections only")
        };
        Self { clients, path, name_field, target }
    }
}

#[async_trait::async_trait]
impl Driver for Firestore {
    async fn put(&self, doc: Document) -> Result<(), RemoteError> {
        let c = &self.clients;
        let id = doc.key(&self.name_field).to_string();
        let target = format!("{} document {id}", self.target);
        let url = document_url(&c.api.base, &self.path, &id).map_err(|e| RemoteError::invalid(None, e).at(&target))?;
        let req = c.http.patch(url).json(&body(doc, &self.name_field));
        let req = c.api.authorize(req, &target).await?;
        c.requests.inc();
        let res = req.send().await.map_err(|e| not_sent(&target, &e))?;
        let reply = expect_ok(&target, res, REPLY_CAP).await?;
        check_reply(&reply, &id).map_err(|e| RemoteError::invalid(None, e).at(target))
    }
}
