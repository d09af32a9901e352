//! The test document stores (hack/docdb.sh): FerretDB, a real MongoDB
//! wire-protocol server on SQLite, and moto's DynamoDB server with table
//! `chains` keyed by `Name`. Read back with the real clients (the mongodb
//! driver, the AWS SDK).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;

use aws_sdk_dynamodb::types::AttributeValue;
use mongodb::bson::{Document, doc};

/// The running stores.
#[derive(Debug, Clone)]
pub struct DocDb {
    /// `mongodb://127.0.0.1:PORT/`.
    pub mongo: String,
    /// `http://127.0.0.1:PORT` (moto).
    pub dynamodb: String,
    pub table: String,
}

static AWS: Once = Once::new();

/// The running stores: TEST_DOCDB_ENV (a file written by `hack/docdb.sh
/// up`), else ones started by that script under target/. Sets this
/// process's AWS credentials to moto's test ones (for in-process signers).
pub fn docdb() -> DocDb {
    let (_, v) = super::component_env("TEST_DOCDB_ENV", "docdb", "test-docdb");
    AWS.call_once(|| {
        // SAFETY: once, before this test's signer reads the environment.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        }
    });
    DocDb {
        mongo: v["MONGO_SERVER_URL"].clone(),
        dynamodb: v["DYNAMODB_ENDPOINT"].clone(),
        table: v["DYNAMODB_TABLE"].clone(),
    }
}

/// `hack/docdb.sh ACTION DIR` with `MONGO_PORT=port`: another FerretDB.
pub fn mongo_script(action: &str, dir: &Path, port: u16) -> String {
    super::hack("docdb", action, dir, &[("MONGO_PORT", &port.to_string())]);
    format!("mongodb://127.0.0.1:{port}/")
}

/// The document `_id = id` of `db.coll` at `conn`, if any.
pub async fn mongo_find(conn: &str, db: &str, coll: &str, id: &str) -> Option<Document> {
    let client = mongodb::Client::with_uri_str(conn).await.expect("mongo client");
    client.database(db).collection::<Document>(coll).find_one(doc! { "_id": id }).await.expect("find_one")
}

impl DocDb {
    /// The item `Name = name` of the table, if any.
    pub async fn dynamo_get(&self, name: &str) -> Option<HashMap<String, AttributeValue>> {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(&self.dynamodb)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        let out = client
            .get_item()
            .table_name(&self.table)
            .key("Name", AttributeValue::S(name.into()))
            .send()
            .await
            .expect("GetItem");
        out.item
    }
}
