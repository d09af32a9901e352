use aws_sdk_dynamodb::types::AttributeValue as Av;
use mongodb::bson::Bson;
use serde_json::json;

use super::*;
use crate::config::Artifact;
use crate::config::docdb::parse;

fn document(cert: Option<&str>, envelope: bool) -> Document {
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","n":1,"f":1.5,"e":""}"#;
    Document::of(&Signed::fixture(Artifact::TaskRun, "taskrun-u-1", payload, cert, envelope)).unwrap()
}

#[test]
fn the_document_is_upstreams() {
    let d = document(None, false);
    assert_eq!(d.name, "taskrun-u-1");
    assert_eq!(d.signature, STANDARD.encode(b"sig"), "base64 of the raw signature");
    assert_eq!((d.cert.as_str(), d.chain.as_str()), ("", ""), "key signers: empty");
    assert_eq!(d.object["_type"], "https://in-toto.io/Statement/v1");
    let d = document(Some("CERT"), true);
    let env: serde_json::Value = serde_json::from_slice(&STANDARD.decode(&d.signature).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json", "in-toto: base64 of the envelope");
    assert_eq!(d.cert, "CERT");
    let not_json = Signed::fixture(Artifact::Oci, "abc", b"not json", None, false);
    assert!(Document::of(&not_json).unwrap_err().contains("not JSON"));
}

#[test]
fn mongo_bodies_are_keyed_as_the_url_says_with_gos_field_names() {
    let (id, body) = mongo::body(document(None, false), Some("Name"), "DocstoreRevision", "r1".into());
    assert_eq!(id, Bson::String("taskrun-u-1".into()));
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["_id", "Signed", "Signature", "Cert", "Chain", "Object", "DocstoreRevision"],
        "Name moves to _id"
    );
    assert_eq!(body.get_document("Object").unwrap().get("n"), Some(&Bson::Double(1.0)), "numbers are doubles");
    let Some(Bson::Binary(b)) = body.get("Signed") else { panic!("Signed is binary") };
    assert!(b.bytes.starts_with(b"{\"_type\""));
    // No id_field: `_id` is the name, and Name stays.
    let (id, body) = mongo::body(document(None, false), None, "rev", "r1".into());
    assert_eq!((id.as_str(), body.get_str("Name").ok()), (Some("taskrun-u-1"), Some("taskrun-u-1")));
    assert_eq!(body.get_str("rev").ok(), Some("r1"));
}

#[test]
fn mongo_messages_never_hold_the_connection_string_or_its_password() {
    let conn = "mongodb://chains:p%40ss-w0rd@db.example:27017/?tls=true";
    let text = format!("bad {conn}; auth p%40ss-w0rd / p@ss-w0rd failed");
    let s = mongo::scrub(&text, conn);
    assert!(!s.contains("p%40ss") && !s.contains("p@ss") && !s.contains("w0rd"), "{s}");
    assert!(s.contains("(the Mongo server URL)"), "{s}");
}

#[test]
fn mongo_sources_in_upstreams_order() {
    use crate::config::Hidden;
    use mongo::Source;
    let inline = Hidden("mongodb://x".into());
    assert_eq!(Source::of(&inline, "/d", "/p/url"), Source::Path("/p/url".into()));
    assert_eq!(Source::of(&inline, "/d", " "), Source::Dir("/d".into()));
    assert_eq!(Source::of(&inline, "", ""), Source::Inline(inline.clone()));
    assert_eq!(Source::of(&Hidden::default(), "", ""), Source::Env);
    assert!(Source::Dir("/d".into()).describe().ends_with("/d/MONGO_SERVER_URL"));
    assert!(!format!("{:?}", Source::Inline(inline)).contains("mongodb://x"), "the inline value is hidden");
}

#[test]
fn dynamodb_items_are_go_clouds() {
    let item = dynamodb::item(document(None, false));
    assert_eq!(item["Name"], Av::S("taskrun-u-1".into()));
    assert_eq!(item["Cert"], Av::Null(true), "empty strings are NULL, as go-cloud writes them");
    let Av::M(obj) = &item["Object"] else { panic!("Object is a map") };
    assert_eq!((&obj["n"], &obj["f"], &obj["e"]), (&Av::N("1".into()), &Av::N("1.5".into()), &Av::Null(true)));
    assert!(matches!(&item["Signed"], Av::B(_)));
    assert_eq!(dynamodb::json(json!([true, null])), Av::L(vec![Av::Bool(true), Av::Null(true)]));
}

#[test]
fn firestore_bodies_are_go_clouds_named_by_the_name_field() {
    let body = firestore::body(document(None, false), "Name");
    let f = &body["fields"];
    assert!(f.get("Name").is_none(), "the name field is the document's ID, not a field");
    assert_eq!(f["Signature"]["stringValue"], STANDARD.encode(b"sig"));
    assert_eq!(f["Cert"], json!({ "stringValue": "" }));
    assert_eq!(f["Object"]["mapValue"]["fields"]["n"], json!({ "doubleValue": 1.0 }));
    assert!(f["Signed"]["bytesValue"].as_str().is_some_and(|b| STANDARD.decode(b).is_ok()));
    assert_eq!(
        firestore::value(json!([null, true])),
        json!({ "arrayValue": { "values": [{ "nullValue": null }, { "booleanValue": true }] } })
    );
    let u =
        firestore::document_url("http://127.0.0.1:8080", "projects/p/databases/(default)/documents/c", "taskrun-u 1")
            .unwrap();
    assert_eq!(u.as_str(), "http://127.0.0.1:8080/v1/projects/p/databases/(default)/documents/c/taskrun-u%201");
    assert!(firestore::check_reply(br#"{"name":"projects/p/databases/d/documents/c/k1"}"#, "k1").is_ok());
    assert!(firestore::check_reply(br#"{"name":"projects/p/databases/d/documents/c/k2"}"#, "k1").is_err());
    assert!(firestore::check_reply(b"[]", "k1").is_err());
    assert_eq!(crate::http::google_or_emulator(firestore::ENDPOINT, Some("127.0.0.1:8080")), "http://127.0.0.1:8080");
}

#[test]
fn every_scheme_builds_and_a_bad_url_is_refused_naming_the_key() {
    let env = crate::seam::Env::default();
    let f = factory(&env).unwrap();
    let section = |url: &str| Storage::DocDb {
        url: url.into(),
        collection: parse(url),
        mongo_server_url: Default::default(),
        mongo_server_url_dir: String::new(),
        mongo_server_url_path: String::new(),
    };
    for url in [
        "mongo://d/c",
        "dynamodb://t?partition_key=Name",
        "firestore://projects/p/databases/(default)/documents/c?name_field=Name",
    ] {
        assert!(matches!(f.build(&section(url)), Some(Ok(_))), "{url}");
    }
    let Some(Err(u)) = f.build(&section("dynamodb://t")) else { panic!("refused") };
    assert_eq!(u.key, "storage.docdb.url");
    assert!(u.supported.contains("partition_key"), "{u:?}");
}
