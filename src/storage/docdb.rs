//! `docdb` storage: each signed artifact as one document in the
//! `storage.docdb.url` collection, the document upstream writes through
//! go-cloud's docstore (`Signed`, `Signature`, `Cert`, `Chain`, `Object`,
//! `Name`, with Go's field names), so what reads upstream's documents reads
//! ours.
//!
//! - `Signed`: the signed bytes (binary); `Signature`: base64 of what the
//!   tekton annotation holds (the raw signature, or the DSSE envelope);
//!   `Object`: `Signed` parsed as JSON; `Name`: the storage key
//!   (`taskrun-<uid>`, or 12 hex of an image digest); `Cert` and `Chain`
//!   are empty for key signers.
//! - A document is put (written whole, replacing one with its key), so a
//!   retry never makes a second one.
//! - Drivers, by URL scheme: `mongo://` ([`mongo`]), `dynamodb://`
//!   ([`dynamodb`]) and `firestore://` ([`firestore`]).

pub mod dynamodb;
pub mod firestore;
pub mod mongo;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Annotations, Backend};
use crate::config::docdb::Collection;
use crate::config::{Storage, StorageKind};
use crate::formats::Run;
use crate::remote::RemoteError;
use crate::seam::{BackendLabel, Env, Factory, Unsupported};
use crate::signing::Signed;

/// Upstream's `SignedDocument`, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub signed: Vec<u8>,
    pub signature: String,
    pub cert: String,
    pub chain: String,
    pub object: serde_json::Value,
    pub name: String,
}

impl Document {
    /// The document of one signed artifact (pure); `Err` when the signed
    /// bytes are not JSON (upstream refuses them too).
    pub fn of(signed: &Signed) -> Result<Self, String> {
        let object = serde_json::from_slice(&signed.payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        let pem = |v: &Option<Arc<str>>| v.as_deref().unwrap_or_default().to_string();
        Ok(Self {
            signed: signed.payload.clone(),
            signature: STANDARD.encode(signed.stored_signature()),
            cert: pem(&signed.verifier.cert),
            chain: pem(&signed.verifier.chain),
            object,
            name: signed.key.clone(),
        })
    }

    /// The value of key field `field` (one of `config::docdb::KEY_FIELDS`).
    pub fn key(&self, field: &str) -> &str {
        match field {
            "Signature" => &self.signature,
            _ => &self.name,
        }
    }
}

/// One driver's writer for one collection.
#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    /// Puts `doc` (replacing the document with its key).
    async fn put(&self, doc: Document) -> Result<(), RemoteError>;
}

/// The `docdb` backend of one chains-config.
pub struct DocDb {
    driver: Arc<dyn Driver>,
    /// `storage.docdb.url`, for messages.
    target: String,
}

#[async_trait::async_trait]
impl Backend for DocDb {
    async fn store(&self, _run: &Run<'_>, signed: &Signed) -> Result<Annotations, RemoteError> {
        let doc = Document::of(signed).map_err(|e| RemoteError::invalid(None, e).at(&self.target))?;
        self.driver.put(doc).await?;
        Ok(Annotations::new())
    }
}

/// What every `docdb` backend shares: each driver's clients (kept across
/// config changes).
pub struct Shared {
    mongo: Arc<mongo::Clients>,
    dynamodb: Arc<dynamodb::Clients>,
    firestore: Arc<firestore::Clients>,
}

/// Makes the `docdb` factory.
pub fn factory(env: &Env) -> Option<Arc<dyn Factory<Storage, dyn Backend>>> {
    let requests = env.storage_requests.get_or_create(&BackendLabel { backend: StorageKind::DocDb.as_str() }).clone();
    let timeout = env.http_timeout.unwrap_or(crate::http::REQUEST_TIMEOUT);
    let http = crate::http::client_builder(timeout).build().ok()?;
    Some(Arc::new(Shared {
        mongo: Arc::new(mongo::Clients::new(requests.clone(), timeout)),
        dynamodb: Arc::new(dynamodb::Clients::new(requests.clone(), timeout)),
        firestore: Arc::new(firestore::Clients::new(requests, http)),
    }))
}

impl Factory<Storage, dyn Backend> for Shared {
    fn name(&self) -> &'static str {
        StorageKind::DocDb.as_str()
    }

    fn build(&self, section: &Storage) -> Option<Result<Arc<dyn Backend>, Unsupported>> {
        let Storage::DocDb { url, collection, mongo_server_url, mongo_server_url_dir, mongo_server_url_path } = section
        else {
            return None;
        };
        let unsupported = |supported: String| Unsupported {
            what: "docdb collection",
            key: crate::config::keys::name::storage_docdb_url.into(),
            value: url.clone(),
            supported,
        };
        // Only selected backends are built, and a selected docdb with a bad
        // URL is refused with the whole config, so this only guards the type.
        let collection = match collection {
            Ok(c) => c,
            Err(why) => return Some(Err(unsupported(why.clone()))),
        };
        let target = url.trim().to_string();
        let driver: Arc<dyn Driver> = match collection {
            Collection::Mongo { .. } => {
                let source = mongo::Source::of(mongo_server_url, mongo_server_url_dir, mongo_server_url_path);
                Arc::new(mongo::Mongo::new(self.mongo.clone(), collection.clone(), source, target.clone()))
            }
            Collection::DynamoDb { .. } => {
                Arc::new(dynamodb::Dynamo::new(self.dynamodb.clone(), collection.clone(), target.clone()))
            }
            Collection::Firestore { .. } => {
                Arc::new(firestore::Firestore::new(self.firestore.clone(), collection.clone(), target.clone()))
            }
        };
        Some(Ok(Arc::new(DocDb { driver, target })))
    }
}

#[cfg(test)]
mod tests;
