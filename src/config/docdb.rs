//! `storage.docdb.url`: a go-cloud docstore collection URL, parsed once into
//! the typed [`Collection`] the `docdb` backend writes to. Only the query
//! parameters go-cloud's openers take are accepted, so a URL upstream
//! would refuse is refused here too, naming the parameter.

use url::Url;

/// The fields of upstream's stored document (go-cloud keeps Go's names).
pub const FIELDS: &[&str] = &["Signed", "Signature", "Cert", "Chain", "Object", "Name"];
/// Fields that can key a document: always set, and scalar.
pub const KEY_FIELDS: &[&str] = &["Name", "Signature"];
/// go-cloud's default revision field.
pub const DEFAULT_REVISION_FIELD: &str = "DocstoreRevision";

/// Where `docdb` documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collection {
    /// `mongo://DATABASE/COLLECTION[?id_field=F&revision_field=R]`.
    Mongo {
        database: String,
        collection: String,
        /// The field whose value becomes `_id` (`None`: `_id` itself).
        id_field: Option<String>,
        revision_field: String,
    },
    /// `dynamodb://TABLE?partition_key=F[&sort_key=G&region=…&endpoint=…&profile=…]`.
    DynamoDb {
        table: String,
        partition_key: String,
        sort_key: Option<String>,
        region: Option<String>,
        endpoint: Option<String>,
        profile: Option<String>,
    },
    /// `firestore://projects/P/databases/D/documents/COLLECTION?name_field=F`.
    Firestore {
        /// `projects/P/databases/D/documents/COLLECTION`.
        path: String,
        name_field: String,
    },
}

impl Collection {
    /// Its scheme (`mongo`, `dynamodb`, `firestore`).
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Mongo { .. } => "mongo",
            Self::DynamoDb { .. } => "dynamodb",
            Self::Firestore { .. } => "firestore",
        }
    }
}

/// The allowed forms, for messages.
pub const FORMS: &str = "mongo://DATABASE/COLLECTION[?id_field=Name], \
                         dynamodb://TABLE?partition_key=Name[&sort_key=…&region=…&endpoint=…], \
                         or firestore://projects/P/databases/D/documents/COLLECTION?name_field=Name";

/// Parses `storage.docdb.url` (pure); the error says what is allowed.
pub fn parse(text: &str) -> Result<Collection, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{e}; one of {FORMS}"))?;
    let mut params: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let host = url.host_str().unwrap_or_default().to_string();
    let path = url.path().trim_start_matches('/').to_string();
    let collection = match url.scheme() {
        "mongo" => {
            let id_field = take(&mut params, "id_field").filter(|f| f != "_id");
            if let Some(f) = id_field.as_deref().filter(|f| !KEY_FIELDS.contains(f)) {
                return Err(format!(
                    "id_field {f:?} is not a field of the stored document that can key it; use one of {KEY_FIELDS:?} (or none, for _id = Name)"
                ));
            }
            let revision_field = take(&mut params, "revision_field").unwrap_or_else(|| DEFAULT_REVISION_FIELD.into());
            if host.is_empty() || path.is_empty() || path.contains('/') {
                return Err(format!("mongo://DATABASE/COLLECTION: a database and one collection name ({FORMS})"));
            }
            Collection::Mongo { database: host, collection: path, id_field, revision_field }
        }
        "dynamodb" => {
            let partition_key = take(&mut params, "partition_key")
                .ok_or_else(|| format!("dynamodb://TABLE needs ?partition_key=… (one of {KEY_FIELDS:?})"))?;
            let sort_key = take(&mut params, "sort_key").filter(|s| !s.is_empty());
            for k in std::iter::once(&partition_key).chain(&sort_key) {
                if !KEY_FIELDS.contains(&k.as_str()) {
                    return Err(format!(
                        "key {k:?} is not a field of the stored document that can key it; use one of {KEY_FIELDS:?}"
                    ));
                }
            }
            if sort_key.as_ref() == Some(&partition_key) {
                return Err("sort_key must differ from partition_key".into());
            }
            // Accepted as go-cloud accepts them; they change nothing for Put.
            for ignored in ["allow_scans", "revision_field", "awssdk"] {
                take(&mut params, ignored);
            }
            if host.is_empty() || !path.is_empty() {
                return Err(format!("dynamodb://TABLE: a table name and no path ({FORMS})"));
            }
            Collection::DynamoDb {
                table: host,
                partition_key,
                sort_key,
                region: take(&mut params, "region"),
                endpoint: take(&mut params, "endpoint"),
                profile: take(&mut params, "profile"),
            }
        }
        "firestore" => {
            let name_field = take(&mut params, "name_field")
                .ok_or_else(|| format!("firestore://… needs ?name_field=… (one of {KEY_FIELDS:?})"))?;
            if !KEY_FIELDS.contains(&name_field.as_str()) {
                return Err(format!("name_field {name_field:?}: use one of {KEY_FIELDS:?}"));
            }
            let full = format!("{host}/{path}");
            let parts: Vec<&str> = full.split('/').collect();
            let ok = parts.len() >= 6
                && parts.len().is_multiple_of(2)
                && parts.first() == Some(&"projects")
                && parts.get(2) == Some(&"databases")
                && parts.get(4) == Some(&"documents")
                && parts.iter().all(|p| !p.is_empty());
            if !ok {
                return Err(format!("firestore://projects/P/databases/D/documents/COLLECTION ({FORMS})"));
            }
            Collection::Firestore { path: full, name_field }
        }
        other => return Err(format!("scheme {other:?}: one of {FORMS}")),
    };
    if let Some((k, _)) = params.first() {
        return Err(format!("query parameter {k:?} is not one {}:// takes", collection.scheme()));
    }
    Ok(collection)
}

/// Removes and returns parameter `key`.
fn take(params: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = params.iter().position(|(k, _)| k == key)?;
    Some(params.remove(i).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongo_urls_as_go_cloud_reads_them() {
        let c = parse("mongo://tekton-chains/attestations?id_field=Name").unwrap();
        assert_eq!(
            c,
            Collection::Mongo {
                database: "tekton-chains".into(),
                collection: "attestations".into(),
                id_field: Some("Name".into()),
                revision_field: DEFAULT_REVISION_FIELD.into(),
            }
        );
        // Upstream's tutorial form: `_id` is the default (keyed by Name here).
        let Collection::Mongo { id_field, .. } = parse("mongo://db/coll?id_field=_id").unwrap() else { panic!() };
        assert_eq!(id_field, None);
        assert!(parse("mongo://db/coll?id_field=Object").unwrap_err().contains("Object"));
        assert!(parse("mongo://db").unwrap_err().contains("COLLECTION"));
        assert!(parse("mongo://db/a/b").is_err());
        assert!(parse("mongo://db/coll?lowercase_fields=true").unwrap_err().contains("lowercase_fields"));
    }

    #[test]
    fn dynamodb_urls_need_a_partition_key_that_is_a_document_field() {
        let c = parse(
            "dynamodb://chains?partition_key=Name&region=us-east-1&endpoint=http://127.0.0.1:5000&allow_scans=true",
        )
        .unwrap();
        assert_eq!(
            c,
            Collection::DynamoDb {
                table: "chains".into(),
                partition_key: "Name".into(),
                sort_key: None,
                region: Some("us-east-1".into()),
                endpoint: Some("http://127.0.0.1:5000".into()),
                profile: None,
            }
        );
        assert!(parse("dynamodb://chains").unwrap_err().contains("partition_key"));
        assert!(parse("dynamodb://chains?partition_key=id").unwrap_err().contains("\"id\""));
        assert!(parse("dynamodb://chains?partition_key=Name&sort_key=Name").is_err());
        assert!(parse("dynamodb://chains/x?partition_key=Name").is_err());
        assert!(parse("dynamodb://chains?partition_key=Name&bogus=1").unwrap_err().contains("bogus"));
    }

    #[test]
    fn firestore_and_other_schemes() {
        let c = parse("firestore://projects/p/databases/(default)/documents/chains?name_field=Name").unwrap();
        assert_eq!(
            c,
            Collection::Firestore {
                path: "projects/p/databases/(default)/documents/chains".into(),
                name_field: "Name".into()
            }
        );
        assert!(parse("firestore://projects/p/documents/chains?name_field=Name").is_err());
        assert!(parse("firestore://projects/p/databases/d/documents/c").unwrap_err().contains("name_field"));
        assert!(parse("postgres://x/y").unwrap_err().contains("\"postgres\""));
        assert!(parse("not a url").unwrap_err().contains("mongo://"));
    }
}
