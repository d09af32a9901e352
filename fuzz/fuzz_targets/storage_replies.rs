//! The replies of storage backends, untrusted, and the object names they
//! are asked for: GCS uploads (the object resource must name the object
//! and its size; the upload URL of any name); Mongo driver messages
//! scrubbed of a connection string; Archivista upload replies (a gitoid);
//! Grafeas create replies, and the build
//! details made from any in-toto statement. Property: no panic; a reply is
//! accepted only when it names the object asked for, an upload URL keeps
//! the name in its query, never in its path, and a scrubbed message never
//! holds the connection string's password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::storage::{archivista, docdb, gcs, grafeas};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (name, _) = text.split_once('\n').unwrap_or((&text, ""));
    if gcs::check_reply(data, name, data.len()).is_ok() {
        let v: serde_json::Value = serde_json::from_slice(data).expect("accepted replies are JSON");
        assert_eq!(v["name"].as_str(), Some(name));
    }
    let url = gcs::upload_url("http://127.0.0.1:4443", "bucket", name).expect("any name makes a URL");
    assert_eq!(url.path(), "/upload/storage/v1/b/bucket/o", "{name:?}");
    let got = url.query_pairs().find(|(k, _)| k == "name").map(|(_, v)| v.into_owned());
    assert_eq!(got.as_deref(), Some(name));
    let conn = format!("mongodb://u:{name}@h/");
    let scrubbed = docdb::mongo::scrub(&format!("failed {conn} with {name}"), &conn);
    assert!(name.is_empty() || !scrubbed.contains(&conn), "{scrubbed:?}");
    if let Ok(g) = archivista::gitoid(data) {
        assert!(g.len() == 64 && g.bytes().all(|b| b.is_ascii_hexdigit()), "{g:?}");
    }
    if let Ok(n) = grafeas::check_reply(data, "projects/p/occurrences/") {
        assert!(n.starts_with("projects/p/occurrences/"), "{n:?}");
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = (grafeas::build_details(&v), grafeas::subject_uris(&v));
        let _ = (docdb::mongo::json_to_bson(v.clone()), docdb::dynamodb::json(v));
    }
});
