//! `docdb` on `mongo://DATABASE/COLLECTION` (MongoDB, Amazon DocumentDB,
//! FerretDB): the document as go-cloud's mongodocstore writes it, `_id`
//! from the `id_field` (`Name` by default here, where upstream's writes
//! fail for want of a key), Go's field names, JSON numbers as doubles,
//! and a `DocstoreRevision`.
//!
//! The server's connection string is read, in upstream's order, from
//! `storage.docdb.mongo-server-url-path` (a file), `-url-dir` (its
//! `MONGO_SERVER_URL` file), `storage.docdb.mongo-server-url`, or the
//! `MONGO_SERVER_URL` environment variable, at each write: a rotated
//! Secret is used from the next write on, with a new client. The string is
//! never logged or echoed: errors name where it came from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document as Bdoc, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use prometheus_client::metrics::counter::Counter;

use super::{Document, Driver};
use crate::config::Hidden;
use crate::config::docdb::Collection;
use crate::config::keys::name as k;
use crate::http::CONNECT_TIMEOUT;
use crate::remote::RemoteError;

/// The environment variable upstream (and go-cloud) reads.
pub const ENV_VAR: &str = "MONGO_SERVER_URL";
/// The most a connection-string file may hold.
const FILE_CAP: u64 = 16 << 10;
/// Server error codes that mean "not now" (primary stepping down, shutting down…).
const RETRYABLE_CODES: &[i32] = &[6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436];
/// Server error codes that mean "not allowed".
const DENIED_CODES: &[i32] = &[13, 18];

/// Where the connection string comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `storage.docdb.mongo-server-url-path`.
    Path(PathBuf),
    /// `storage.docdb.mongo-server-url-dir`: its `MONGO_SERVER_URL` file.
    Dir(PathBuf),
    /// `storage.docdb.mongo-server-url`.
    Inline(Hidden),
    /// The `MONGO_SERVER_URL` environment variable.
    Env,
}

impl Source {
    /// The first one set, in upstream's order.
    pub fn of(inline: &Hidden, dir: &str, path: &str) -> Self {
        if !path.trim().is_empty() {
            Self::Path(path.trim().into())
        } else if !dir.trim().is_empty() {
            Self::Dir(dir.trim().into())
        } else if !inline.expose().trim().is_empty() {
            Self::Inline(inline.clone())
        } else {
            Self::Env
        }
    }

    /// Where it is, for messages (never the value).
    pub fn describe(&self) -> String {
        match self {
            Self::Path(p) => format!("{} {}", k::storage_docdb_mongo_server_url_path, p.display()),
            Self::Dir(d) => format!("{} {}", k::storage_docdb_mongo_server_url_dir, d.join(ENV_VAR).display()),
            Self::Inline(_) => k::storage_docdb_mongo_server_url.to_string(),
            Self::Env => format!("the {ENV_VAR} environment variable"),
        }
    }

    /// The connection string now; a missing one may yet be mounted (retryable).
    fn read(&self) -> Result<String, RemoteError> {
        let missing = |why: String| RemoteError::unreachable("", format!("no Mongo server URL: {why}"), false);
        let file = |p: PathBuf| -> Result<String, RemoteError> {
            use std::io::Read as _;
            let f = std::fs::File::open(&p).map_err(|e| missing(format!("{}: {e}", self.describe())))?;
            let mut text = String::new();
            f.take(FILE_CAP).read_to_string(&mut text).map_err(|e| missing(format!("{}: {e}", self.describe())))?;
            Ok(text)
        };
        let text = match self {
            Self::Path(p) => file(p.clone())?,
            Self::Dir(d) => file(d.join(ENV_VAR))?,
            Self::Inline(h) => h.expose().to_string(),
            Self::Env => std::env::var(ENV_VAR).map_err(|_| {
                missing(format!(
                    "set one of {}, {}, {} or {ENV_VAR}",
                    k::storage_docdb_mongo_server_url_path,
                    k::storage_docdb_mongo_server_url_dir,
                    k::storage_docdb_mongo_server_url
                ))
            })?,
        };
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(missing(format!("{} is empty", self.describe())));
        }
        Ok(text)
    }
}

/// The document's `_id` and body, as mongodocstore writes them (pure).
pub fn body(doc: Document, id_field: Option<&str>, revision_field: &str, revision: String) -> (Bson, Bdoc) {
    let id = Bson::String(doc.key(id_field.unwrap_or("Name")).to_string());
    let mut body = doc! {
        "_id": id.clone(),
        "Signed": Binary { subtype: BinarySubtype::Generic, bytes: doc.signed },
        "Signature": doc.signature,
        "Cert": doc.cert,
        "Chain": doc.chain,
        "Object": json_to_bson(doc.object),
        "Name": doc.name,
    };
    // The id field lives in `_id` only, as mongodocstore moves it.
    if let Some(f) = id_field {
        body.remove(f);
    }
    body.insert(revision_field, revision);
    (id, body)
}

/// JSON as go-cloud stores a Go `interface{}` decoded from it: numbers are
/// doubles.
pub fn json_to_bson(v: serde_json::Value) -> Bson {
    use serde_json::Value as J;
    match v {
        J::Null => Bson::Null,
        J::Bool(b) => Bson::Boolean(b),
        J::Number(n) => Bson::Double(n.as_f64().unwrap_or_default()),
        J::String(s) => Bson::String(s),
        J::Array(a) => Bson::Array(a.into_iter().map(json_to_bson).collect()),
        J::Object(m) => Bson::Document(m.into_iter().map(|(k, v)| (k, json_to_bson(v))).collect()),
    }
}

/// A go-cloud-style revision: a fresh UUID (v4) string.
fn revision() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The Mongo clients of this process: one per connection string in use.
pub struct Clients {
    requests: Counter,
    timeout: Duration,
    current: tokio::sync::Mutex<Option<(String, mongodb::Client)>>,
}

impl Clients {
    pub fn new(requests: Counter, timeout: Duration) -> Self {
        Self { requests, timeout, current: tokio::sync::Mutex::new(None) }
    }

    /// The client for `conn` (made when the string changed). The lock is
    /// held while a new client is made, so concurrent writes after a
    /// rotation make one client, not one each.
    async fn client(&self, conn: &str, source: &Source) -> Result<mongodb::Client, RemoteError> {
        let mut current = self.current.lock().await;
        if let Some((_, client)) = current.as_ref().filter(|(c, _)| c == conn) {
            return Ok(client.clone());
        }
        let parsed = tokio::time::timeout(self.timeout, ClientOptions::parse(conn)).await;
        let mut opts = match parsed {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(classify(&e, conn, &format!("the Mongo server URL from {}", source.describe()))),
            Err(_) => {
                return Err(RemoteError::unreachable("", "resolving the Mongo server URL timed out".into(), false));
            }
        };
        // Within the write's own deadline, so an unreachable server is told
        // apart (server selection: unavailable) from a slow write.
        opts.server_selection_timeout.get_or_insert(self.timeout.mul_f64(0.75));
        opts.connect_timeout.get_or_insert(CONNECT_TIMEOUT.min(self.timeout));
        opts.app_name.get_or_insert_with(|| "tekton-chains".into());
        let client = mongodb::Client::with_options(opts)
            .map_err(|e| classify(&e, conn, &format!("the Mongo server URL from {}", source.describe())))?;
        *current = Some((conn.to_string(), client.clone()));
        Ok(client)
    }
}

/// A driver error as a [`RemoteError`], with `conn` (and its password)
/// scrubbed from the message.
fn classify(e: &mongodb::error::Error, conn: &str, what: &str) -> RemoteError {
    let message = scrub(&format!("{what}: {e}"), conn);
    let code = match &*e.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    };
    let unavailable = matches!(
        &*e.kind,
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
    ) || e.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    if unavailable {
        return RemoteError::unreachable("", message, true);
    }
    let denied =
        matches!(&*e.kind, ErrorKind::Authentication { .. }) || code.is_some_and(|c| DENIED_CODES.contains(&c));
    let mut r = RemoteError::invalid(denied.then_some(403), message);
    if matches!(&*e.kind, ErrorKind::DnsResolve { .. }) {
        r.retryable = true;
    }
    r
}

/// `text` without `conn` or the password in it (as written, and decoded).
pub fn scrub(text: &str, conn: &str) -> String {
    let mut out = text.replace(conn, "(the Mongo server URL)");
    let userinfo = conn.split_once("://").and_then(|(_, rest)| rest.rsplit_once('@')).map(|(u, _)| u);
    if let Some(password) = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p).filter(|p| !p.is_empty()) {
        let decoded: String = url::form_urlencoded::parse(password.replace('+', "%2B").as_bytes())
            .map(|(k, v)| if v.is_empty() { k.into_owned() } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join("&");
        for p in [password, decoded.as_str()].into_iter().filter(|p| !p.is_empty()) {
            out = out.replace(p, "***");
        }
    }
    out
}

/// One `mongo://` collection.
pub struct Mongo {
    clients: Arc<Clients>,
    database: String,
    collection: String,
    id_field: Option<String>,
    revision_field: String,
    source: Source,
    target: String,
}

impl Mongo {
    /// `collection` must be a [`Collection::Mongo`].
    pub fn new(clients: Arc<Clients>, collection: Collection, source: Source, target: String) -> Self {
        let Collection::Mongo { database, collection, id_field, revision_field } = collection else {
            unreachable!("docdb builds Mongo from mongo:// collections only")
        };
        Self { clients, database, collection, id_field, revision_field, source, target }
    }
}

#[async_trait::async_trait]
impl Driver for Mongo {
    async fn put(&self, doc: Document) -> Result<(), RemoteError> {
        let conn = self.source.read().map_err(|e| e.at(&self.target))?;
        let client = self.clients.client(&conn, &self.source).await.map_err(|e| e.at(&self.target))?;
        let (id, body) = body(doc, self.id_field.as_deref(), &self.revision_field, revision());
        let coll = client.database(&self.database).collection::<Bdoc>(&self.collection);
        self.clients.requests.inc();
        let put = coll.replace_one(doc! { "_id": id }, body).upsert(true);
        match tokio::time::timeout(self.clients.timeout, put.into_future()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e, &conn, "write").at(&self.target)),
            Err(_) => Err(RemoteError::unreachable(&self.target, "write timed out".into(), false)),
        }
    }
}
