//! `docdb` on `dynamodb://TABLE?partition_key=Name`: the document as
//! go-cloud's awsdynamodb puts it, one `PutItem` per artifact: `Signed` as
//! binary, strings as `S` (empty ones as `NULL`, as go-cloud writes them),
//! `Object` as a map, JSON numbers as `N`. The table must exist, keyed by
//! the URL's `partition_key` (and `sort_key`) as strings.
//!
//! Region, credentials and endpoint: the URL's `region`, `profile` and
//! `endpoint` (as go-cloud reads them), else the standard AWS chain
//! (`AWS_REGION`, IRSA, instance roles; `AWS_ENDPOINT_URL_DYNAMODB` /
//! `AWS_ENDPOINT_URL`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;

use super::{Document, Driver};
use crate::config::docdb::Collection;
use crate::remote::RemoteError;

/// DynamoDB error codes worth another try (besides throttling and 5xx).
const RETRYABLE_CODES: &[&str] = &["InternalServerError", "ServiceUnavailable", "TransactionConflictException"];

/// The item go-cloud puts for `doc` (pure).
pub fn item(doc: Document) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("Signed".to_string(), AttributeValue::B(Blob::new(doc.signed))),
        ("Signature".into(), string(doc.signature)),
        ("Cert".into(), string(doc.cert)),
        ("Chain".into(), string(doc.chain)),
        ("Object".into(), json(doc.object)),
        ("Name".into(), string(doc.name)),
    ])
}

/// A string as go-cloud encodes it: empty is `NULL`.
fn string(s: String) -> AttributeValue {
    if s.is_empty() { AttributeValue::Null(true) } else { AttributeValue::S(s) }
}

/// JSON as go-cloud encodes a Go `interface{}` decoded from it.
pub fn json(v: serde_json::Value) -> AttributeValue {
    use serde_json::Value as J;
    match v {
        J::Null => AttributeValue::Null(true),
        J::Bool(b) => AttributeValue::Bool(b),
        J::Number(n) => AttributeValue::N(n.to_string()),
        J::String(s) => string(s),
        J::Array(a) => AttributeValue::L(a.into_iter().map(json).collect()),
        J::Object(m) => AttributeValue::M(m.into_iter().map(|(k, v)| (k, json(v))).collect()),
    }
}

/// The DynamoDB clients of this process, one per region/profile/endpoint.
pub struct Clients {
    requests: Counter,
    timeout: Duration,
    made: Mutex<HashMap<Where, Arc<tokio::sync::OnceCell<aws_sdk_dynamodb::Client>>>>,
}

/// What picks a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Where {
    region: Option<String>,
    profile: Option<String>,
    endpoint: Option<String>,
}

impl Clients {
    pub fn new(requests: Counter, timeout: Duration) -> Self {
        Self { requests, timeout, made: Mutex::new(HashMap::new()) }
    }

    async fn client(&self, at: &Where) -> aws_sdk_dynamodb::Client {
        let cell = self.made.lock().entry(at.clone()).or_default().clone();
        cell.get_or_init(|| async {
            let sdk = crate::aws::sdk_config(self.timeout, at.region.as_deref(), at.profile.as_deref()).await;
            let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk);
            if let Some(endpoint) = &at.endpoint {
                conf = conf.endpoint_url(endpoint);
            }
            aws_sdk_dynamodb::Client::from_conf(conf.build())
        })
        .await
        .clone()
    }
}

/// One `dynamodb://` table.
pub struct Dynamo {
    clients: Arc<Clients>,
    table: String,
    at: Where,
    target: String,
}

impl Dynamo {
    /// `collection` must be a [`Collection::DynamoDb`].
    pub fn new(clients: Arc<Clients>, collection: Collection, target: String) -> Self {
        let Collection::DynamoDb { table, region, endpoint, profile, .. } = collection else {
            unreachable!("docdb builds Dynamo from dynamodb:// collections only")
        };
        Self { clients, table, at: Where { region, profile, endpoint }, target }
    }
}

#[async_trait::async_trait]
impl Driver for Dynamo {
    async fn put(&self, doc: Document) -> Result<(), RemoteError> {
        let client = self.clients.client(&self.at).await;
        self.clients.requests.inc();
        let put = client.put_item().table_name(&self.table).set_item(Some(item(doc)));
        put.send().await.map(|_| ()).map_err(|e| crate::aws::remote(&self.target, e, RETRYABLE_CODES))
    }
}
