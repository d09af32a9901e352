//! Storage backends against real servers, read back and verified with the
//! real cosign and openssl: `gcs` against fake-gcs-server, `docdb` against
//! FerretDB (mongo://), moto (dynamodb://) and Google's Firestore emulator,
//! `grafeas` against Grafeas's own v1 API, `archivista` against Archivista,
//! `kafka` against an Apache Kafka broker.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use support::events::event_with;
use support::gcs::{Gcs, gcs};
use support::runs::{build_taskrun, retried, run, signed};
use support::{Env, cosign_keys, namespace_with_config, runs_api, signer_options, start_signer, tmpdir};

const DIGEST: &str = "sha256:9a1d1e0e7d3c0e1b5d4c4b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d65f8a0b3b3";

/// A namespace signing TaskRuns (in-toto) and their images with a cosign
/// key, stored in `storage` (both), gcs in `bucket`.
async fn gcs_namespace(env: &Env, prefix: &str, storage: &str, bucket: &str) -> String {
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", storage),
        ("artifacts.oci.storage", storage),
        ("storage.gcs.bucket", bucket),
    ];
    namespace_with_config(env, prefix, &config).await
}

/// The run's uid.
async fn uid(env: &Env, ns: &str, name: &str) -> String {
    runs_api(env, ns, "TaskRun").get(name).await.unwrap().metadata.uid.unwrap()
}

/// `cosign ARGS` in `keys`, checking that it verified.
fn cosign_verifies(keys: &Path, args: &[&str]) {
    let (ok, out) = support::runs::cosign(keys, args, &[]);
    assert!(ok && out.contains("Verified OK"), "cosign {args:?}: {out}");
}

/// What one signed run stored, read back from a backend: the TaskRun's
/// DSSE envelope and the statement in it, the image's raw signature and
/// its simplesigning payload.
struct Stored {
    envelope: Vec<u8>,
    statement: Vec<u8>,
    image_signature: Vec<u8>,
    image_payload: Vec<u8>,
}

/// Verifies what a run stored: the attestation with cosign
/// verify-blob-attestation, the image signature with cosign verify-blob and
/// openssl on the raw bytes; the statement is the envelope's and names the image.
fn verify(stored: &Stored, keys: &Path) {
    let dir = tmpdir("store-verify");
    let file = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).unwrap();
        dir.join(name).to_str().unwrap().to_string()
    };
    let att = file("att.json", &stored.envelope);
    cosign_verifies(
        keys,
        &[
            "verify-blob-attestation",
            "--insecure-ignore-tlog",
            "--key",
            "cosign.pub",
            "--signature",
            &att,
            "--type",
            "slsaprovenance",
            "--check-claims=false",
            "/dev/null",
        ],
    );
    let statement: Value = serde_json::from_slice(&stored.statement).unwrap();
    let env: Value = serde_json::from_slice(&stored.envelope).unwrap();
    let inner = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    assert_eq!(statement, serde_json::from_slice::<Value>(&inner).unwrap(), "the payload is the signed statement");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], DIGEST.trim_start_matches("sha256:"));

    let raw = &stored.image_signature;
    let (sig_raw, sig, img_payload) = (
        file("img.sig.raw", raw),
        file("img.sig", STANDARD.encode(raw).as_bytes()),
        file("img.payload", &stored.image_payload),
    );
    cosign_verifies(
        keys,
        &["verify-blob", "--insecure-ignore-tlog=true", "--key", "cosign.pub", "--signature", &sig, &img_payload],
    );
    let (ok, out) = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "cosign.pub", "-signature", &sig_raw, &img_payload])
        .current_dir(keys));
    assert!(ok && out.contains("Verified OK"), "openssl: {out}");
    let simple: Value = serde_json::from_slice(&stored.image_payload).unwrap();
    assert_eq!(simple["critical"]["image"]["docker-manifest-digest"], DIGEST);
}

/// The image's storage key: 12 hex of its digest.
fn image_key() -> &'static str {
    &DIGEST.trim_start_matches("sha256:")[..12]
}

/// Reads back and verifies what a signed run of `ns` left in `store`, and
/// that nothing else is under the run's prefix.
async fn verify_stored(store: &Gcs, ns: &str, name: &str, uid: &str, keys: &Path) {
    let prefix = format!("taskrun-{ns}-{name}/");
    let img = image_key();
    let want: Vec<String> = [format!("{img}.payload"), format!("{img}.signature")]
        .into_iter()
        .chain([format!("taskrun-{uid}.payload"), format!("taskrun-{uid}.signature")])
        .map(|o| format!("{prefix}{o}"))
        .collect();
    assert_eq!(store.list(&prefix).await, want, "a key signer has no .cert or .chain objects");
    let prefix = &prefix;
    let read = |o: String| async move { store.read(&format!("{prefix}{o}")).await.expect("object") };
    let stored = Stored {
        envelope: read(format!("taskrun-{uid}.signature")).await,
        statement: read(format!("taskrun-{uid}.payload")).await,
        image_signature: read(format!("{img}.signature")).await,
        image_payload: read(format!("{img}.payload")).await,
    };
    verify(&stored, keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_objects_are_named_as_upstream_and_verify_with_cosign_and_openssl() {
    let env = Env::new().await;
    let store = gcs();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let ns = gcs_namespace(&env, "gcs", "tekton,gcs", &store.bucket).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let uid = uid(&env, &ns, "build").await;
    verify_stored(&store, &ns, "build", &uid, &keys).await;
    // Both payloads in both backends: the tekton annotations are there too.
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    assert!(a.contains_key(&format!("chains.tekton.dev/signature-taskrun-{uid}")));
    // Two objects per payload, one request each; nothing read back.
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signer_storage_requests_total{backend="gcs"} 4"#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_bucket_fails_the_run_at_once_and_the_event_names_it() {
    let env = Env::new().await;
    let _store = gcs();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let ns = gcs_namespace(&env, "gcs-nobucket", "tekton,gcs", "no-such-bucket").await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "failed");
    let target = format!("gs://no-such-bucket/taskrun-{ns}-build/");
    let note = event_with(&env, &ns, Some("build"), "SigningFailed", &["gcs storage", &target]).await;
    assert!(note.contains("retrying cannot help"), "{note}");
    // What tekton storage did keep is written with the failure; the run is not signed.
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    assert_eq!(a["chains.tekton.dev/signed"], "failed");
}

/// A signer process (the binary) whose gcs is `host`, retrying every 100 ms.
async fn gcs_signer_process(env: &Env, ns: &str, keys: &Path, host: &str) -> support::SignerProcess {
    let identity = env.signer_identity(ns).await;
    let vars = [("STORAGE_EMULATOR_HOST", Some(host))];
    support::signer_process_with(ns, &identity, &vars, keys, &["--retry-backoff", "100ms"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_down_is_retried_until_it_is_back_then_given_up_with_an_event() {
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let dir = tmpdir("gcs-outage");
    let port = support::free_port();
    let host = format!("127.0.0.1:{port}");
    let ns = gcs_namespace(&env, "gcs-down", "gcs", "chains-signatures").await;
    let signer = gcs_signer_process(&env, &ns, &keys, &host).await;

    // Down: retried (the attempts count up), not failed.
    build_taskrun(&env, &ns, "while-down", "default", "registry.example/team/app", DIGEST).await;
    retried(&env, &ns, "while-down", 2, &|| signer.output()).await;
    // Back: the run is signed, and what it stored verifies.
    let store = support::gcs::script("up", &dir, port);
    assert_eq!(signed(&env, &ns, "TaskRun", "while-down").await, "true", "{}", signer.output());
    let uid = uid(&env, &ns, "while-down").await;
    verify_stored(&store, &ns, "while-down", &uid, &keys).await;

    // Down for good: after the retry limit the run ends failed, with an
    // Event naming the backend and the target.
    support::gcs::script("stop", &dir, port);
    build_taskrun(&env, &ns, "stays-down", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "stays-down").await, "failed");
    let note =
        event_with(&env, &ns, Some("stays-down"), "SigningFailed", &["gcs storage", "gs://chains-signatures/"]).await;
    assert!(note.contains("giving up after 10 attempts") && note.contains("unreachable"), "{note}");
    support::gcs::script("down", &dir, port);
}

/// A namespace signing TaskRuns (in-toto) and their images, stored in
/// `storage` (both), with `docdb` settings `extra`.
async fn docdb_namespace(env: &Env, prefix: &str, storage: &str, extra: &[(&str, &str)]) -> String {
    let mut config = vec![
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", storage),
        ("artifacts.oci.storage", storage),
    ];
    config.extend_from_slice(extra);
    namespace_with_config(env, prefix, &config).await
}

/// The bytes of a BSON binary field.
fn bson_bytes(d: &mongodb::bson::Document, field: &str) -> Vec<u8> {
    match d.get(field) {
        Some(mongodb::bson::Bson::Binary(b)) => b.bytes.clone(),
        other => panic!("{field} is not binary: {other:?}"),
    }
}

/// What a run stored in Mongo database `db`, collection `coll` at `conn`,
/// checked for upstream's fields on the way.
async fn mongo_stored(conn: &str, coll: &str, uid: &str) -> Stored {
    let find = |id: String| async move { support::docdb::mongo_find(conn, "chains", coll, &id).await };
    let run = find(format!("taskrun-{uid}")).await.expect("the TaskRun's document");
    let img = find(image_key().to_string()).await.expect("the image's document");
    for d in [&run, &img] {
        let mut fields: Vec<&str> = d.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["Cert", "Chain", "DocstoreRevision", "Object", "Signature", "Signed", "_id"], "{d}");
        assert_eq!((d.get_str("Cert").unwrap(), d.get_str("Chain").unwrap()), ("", ""));
    }
    let object = run.get_document("Object").unwrap();
    assert_eq!(object.get_str("predicateType").unwrap(), "https://slsa.dev/provenance/v0.2");
    let sig = |d: &mongodb::bson::Document| STANDARD.decode(d.get_str("Signature").unwrap()).unwrap();
    Stored {
        envelope: sig(&run),
        statement: bson_bytes(&run, "Signed"),
        image_signature: sig(&img),
        image_payload: bson_bytes(&img, "Signed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_documents_are_upstreams_verify_and_follow_a_rotated_server_url_file() {
    let env = Env::new().await;
    let store = support::docdb::docdb();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    // The connection string in a file, as a mounted Secret holds it.
    let secret = tmpdir("mongo-secret");
    let url_file = secret.join("mongo-url");
    std::fs::write(&url_file, format!("{}\n", store.mongo)).unwrap();
    let path = url_file.to_str().unwrap();
    let docdb = [
        ("storage.docdb.url", "mongo://chains/signatures?id_field=Name"),
        ("storage.docdb.mongo-server-url-path", path),
    ];
    let ns = docdb_namespace(&env, "mongo", "tekton,docdb", &docdb).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let first = uid(&env, &ns, "build").await;
    verify(&mongo_stored(&store.mongo, "signatures", &first).await, &keys);
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signer_storage_requests_total{backend="docdb"} 2"#), "one write per artifact: {m}");

    // The Secret is rotated to another server: the next run goes there.
    let second = tmpdir("mongo-second");
    let other = support::docdb::mongo_script("mongo", &second, support::free_port());
    std::fs::write(&url_file, &other).unwrap();
    build_taskrun(&env, &ns, "after-rotation", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "after-rotation").await, "true");
    let uid2 = uid(&env, &ns, "after-rotation").await;
    verify(&mongo_stored(&other, "signatures", &uid2).await, &keys);
    let old = support::docdb::mongo_find(&store.mongo, "chains", "signatures", &format!("taskrun-{uid2}")).await;
    assert!(old.is_none(), "nothing went to the old server");
    support::hack("docdb", "down", &second, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_items_are_upstreams_and_verify_and_a_missing_table_fails_at_once() {
    let env = Env::new().await;
    let store = support::docdb::docdb();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let url = format!("dynamodb://{}?partition_key=Name&region=us-east-1&endpoint={}", store.table, store.dynamodb);
    let ns = docdb_namespace(&env, "dynamo", "docdb", &[("storage.docdb.url", &url)]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let uid = uid(&env, &ns, "build").await;
    let run = store.dynamo_get(&format!("taskrun-{uid}")).await.expect("the TaskRun's item");
    let img = store.dynamo_get(image_key()).await.expect("the image's item");
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    for item in [&run, &img] {
        let mut fields: Vec<&str> = item.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["Cert", "Chain", "Name", "Object", "Signature", "Signed"]);
        assert_eq!(item["Cert"], Av::Null(true), "empty strings are NULL, as go-cloud writes them");
    }
    let bytes = |item: &std::collections::HashMap<String, Av>, f: &str| match &item[f] {
        Av::B(b) => b.as_ref().to_vec(),
        Av::S(s) => STANDARD.decode(s).unwrap(),
        other => panic!("{f}: {other:?}"),
    };
    let Av::M(object) = &run["Object"] else { panic!("Object is a map") };
    assert_eq!(object["predicateType"], Av::S("https://slsa.dev/provenance/v0.2".into()));
    let stored = Stored {
        envelope: bytes(&run, "Signature"),
        statement: bytes(&run, "Signed"),
        image_signature: bytes(&img, "Signature"),
        image_payload: bytes(&img, "Signed"),
    };
    verify(&stored, &keys);

    // A table that is not there: permanent, the run fails at once, and the
    // Event names the backend and the collection; tekton storage beside it
    // signs nothing.
    let missing = format!("dynamodb://no-such-table?partition_key=Name&region=us-east-1&endpoint={}", store.dynamodb);
    let ns = docdb_namespace(&env, "dynamo-missing", "tekton,docdb", &[("storage.docdb.url", &missing)]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "failed");
    let note =
        event_with(&env, &ns, Some("build"), "SigningFailed", &["docdb storage", "dynamodb://no-such-table"]).await;
    assert!(note.contains("ResourceNotFoundException") && note.contains("retrying cannot help"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_down_is_retried_until_it_is_back_then_given_up_with_an_event() {
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let dir = tmpdir("mongo-outage");
    let port = support::free_port();
    let conn = format!("mongodb://127.0.0.1:{port}/");
    // gcs beside it works all along: what it stored is not stored again.
    let gcs = gcs();
    let docdb = [
        ("storage.docdb.url", "mongo://chains/outage?id_field=Name"),
        ("storage.docdb.mongo-server-url", &conn),
        ("storage.gcs.bucket", &gcs.bucket),
    ];
    let ns = docdb_namespace(&env, "mongo-down", "gcs,docdb", &docdb).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.http_timeout = std::time::Duration::from_secs(1);
    let s = start_signer(env.signer_client(&ns).await, opts).await;

    build_taskrun(&env, &ns, "while-down", "default", "registry.example/team/app", DIGEST).await;
    retried(&env, &ns, "while-down", 2, &String::new).await;
    support::docdb::mongo_script("mongo", &dir, port);
    assert_eq!(signed(&env, &ns, "TaskRun", "while-down").await, "true");
    let uid = uid(&env, &ns, "while-down").await;
    verify(&mongo_stored(&conn, "outage", &uid).await, &keys);
    verify_stored(&gcs, &ns, "while-down", &uid, &keys).await;
    let a = runs_api(&env, &ns, "TaskRun").get("while-down").await.unwrap().metadata.annotations.unwrap();
    let m = s.signer.metrics.render();
    assert!(
        m.contains(r#"signer_storage_requests_total{backend="gcs"} 4"#),
        "gcs stored each of the 2 artifacts once (2 objects each) over {} retries: {m}",
        a["chains.tekton.dev/retries"]
    );

    // Down for good, with a password in the connection string: after the
    // retry limit the run ends failed, the Event names the backend and the
    // collection, and never the password.
    support::hack("docdb", "down", &dir, &[]);
    let secret_conn = format!("mongodb://chains:s3cret-pw@127.0.0.1:{port}/");
    let docdb = [("storage.docdb.url", "mongo://chains/outage"), ("storage.docdb.mongo-server-url", &secret_conn)];
    let ns = docdb_namespace(&env, "mongo-gone", "docdb", &docdb).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.http_timeout = std::time::Duration::from_secs(1);
    let _s = start_signer(env.signer_client(&ns).await, opts).await;
    build_taskrun(&env, &ns, "stays-down", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "stays-down").await, "failed");
    let note =
        event_with(&env, &ns, Some("stays-down"), "SigningFailed", &["docdb storage", "mongo://chains/outage"]).await;
    assert!(note.contains("giving up after 10 attempts"), "{note}");
    assert!(!note.contains("s3cret-pw"), "the password is never echoed: {note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn firestore_documents_are_upstreams_and_verify_against_googles_emulator() {
    let Some(host) = support::firestore::firestore() else { return };
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let path = "projects/chains-test/databases/(default)/documents/signatures";
    let url = format!("firestore://{path}?name_field=Name");
    let ns = docdb_namespace(&env, "firestore", "docdb", &[("storage.docdb.url", &url)]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let uid = uid(&env, &ns, "build").await;
    let get = |id: String| {
        let host = host.clone();
        async move { support::firestore::get(&host, path, &id).await.expect("the document") }
    };
    let (run, img) = (get(format!("taskrun-{uid}")).await, get(image_key().to_string()).await);
    for d in [&run, &img] {
        let mut fields: Vec<&str> = d["fields"].as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["Cert", "Chain", "Object", "Signature", "Signed"], "the name is the document's ID");
    }
    let object = &run["fields"]["Object"]["mapValue"]["fields"];
    assert_eq!(object["predicateType"]["stringValue"], "https://slsa.dev/provenance/v0.2");
    let b64 = |d: &Value, f: &str, kind: &str| STANDARD.decode(d["fields"][f][kind].as_str().unwrap()).unwrap();
    let stored = Stored {
        envelope: b64(&run, "Signature", "stringValue"),
        statement: b64(&run, "Signed", "bytesValue"),
        image_signature: b64(&img, "Signature", "stringValue"),
        image_payload: b64(&img, "Signed", "bytesValue"),
    };
    verify(&stored, &keys);
}

/// `ni:///sha-256;…` of `keys/cosign.pub`, from openssl's DER of it.
fn key_ni(keys: &Path) -> String {
    use sha2::Digest as _;
    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-in", "cosign.pub", "-outform", "DER"])
        .current_dir(keys)
        .output()
        .unwrap();
    assert!(out.status.success());
    let sha = sha2::Sha256::digest(&out.stdout);
    format!("ni:///sha-256;{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha))
}

/// `grafeas` against Grafeas's own v1 API: the occurrences and notes
/// upstream writes, read back and verified with cosign and openssl; notes
/// are made once per process; a server that lost its notes (restarted
/// empty) gets them again on the retry, and nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grafeas_occurrences_are_upstreams_verify_and_survive_a_server_that_lost_its_notes() {
    let g = support::grafeas::grafeas();
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let project = "chains-test";
    let config = [("storage.grafeas.projectid", project)];
    let ns = docdb_namespace(&env, "grafeas", "tekton,grafeas", &config).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");

    let (build_note, image_note) = (format!("tekton-{ns}-taskrun-intoto"), format!("tekton-{ns}-simplesigning"));
    let note = g.get(&format!("projects/{project}/notes/{image_note}")).await;
    assert_eq!(
        note["attestation"]["hint"]["humanReadableName"],
        "This attestation note was generated by Tekton Chains"
    );
    let note = g.get(&format!("projects/{project}/notes/{build_note}")).await;
    assert_eq!(note["build"]["builderVersion"], "tekton.dev/v1/TaskRun");
    let [build] = g.occurrences(project, &build_note).await.try_into().expect("one build occurrence");
    let [image] = g.occurrences(project, &image_note).await.try_into().expect("one attestation occurrence");
    let uri = format!("registry.example/team/app@{DIGEST}");
    assert_eq!(
        (build["resourceUri"].as_str(), image["resourceUri"].as_str()),
        (Some(uri.as_str()), Some(uri.as_str()))
    );
    let z = &build["build"]["intotoStatement"]["slsaProvenanceZeroTwo"];
    assert_eq!(z["builder"]["id"], "https://tekton.dev/chains/v2");
    let ni = key_ni(&keys);
    assert_eq!(image["attestation"]["signatures"][0]["publicKeyId"], ni);
    assert_eq!(build["envelope"]["signatures"][0]["keyid"], ni);
    let b64 = |v: &Value| STANDARD.decode(v.as_str().expect("base64 field")).unwrap();
    let stored = Stored {
        envelope: b64(&build["envelope"]["signatures"][0]["sig"]),
        statement: b64(&build["envelope"]["payload"]),
        image_signature: b64(&image["attestation"]["signatures"][0]["signature"]),
        image_payload: b64(&image["attestation"]["serializedPayload"]),
    };
    assert_eq!(b64(&image["envelope"]["payload"]), stored.image_payload);
    verify(&stored, &keys);
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signer_storage_requests_total{backend="grafeas"} 4"#), "2 notes, 2 occurrences: {m}");

    // The server restarts empty: the notes the signer made are gone. The
    // first write says so (404), the retry makes them again.
    g.restart();
    build_taskrun(&env, &ns, "again", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "again").await, "true");
    let a = runs_api(&env, &ns, "TaskRun").get("again").await.unwrap().metadata.annotations.unwrap();
    assert!(a.get("chains.tekton.dev/retries").is_some_and(|r| r != "0"), "{a:?}");
    let (builds, images) = (g.occurrences(project, &build_note).await, g.occurrences(project, &image_note).await);
    assert_eq!((builds.len(), images.len()), (1, 1), "each artifact stored once over the retries");
}

/// `archivista` against a real Archivista: the run's provenance envelope is
/// uploaded once, its gitoid and the server are on the run (in its one
/// patch), and what Archivista serves for the gitoid verifies with cosign.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn archivista_keeps_the_signed_envelope_and_the_run_names_its_gitoid() {
    let url = support::archivista::archivista();
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "tekton,archivista"),
        ("artifacts.oci.storage", "tekton"),
        ("storage.archivista.url", url.as_str()),
    ];
    let ns = namespace_with_config(&env, "archivista", &config).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    assert_eq!(a["chains.tekton.dev/archivista-url"], url);
    let gitoid = &a["chains.tekton.dev/archivista-gitoid"];
    let envelope = support::archivista::download(&url, gitoid).await;
    let run_uid = uid(&env, &ns, "build").await;
    let tekton = STANDARD.decode(&a[&format!("chains.tekton.dev/signature-taskrun-{run_uid}")]).unwrap();
    let (ours, theirs): (Value, Value) =
        (serde_json::from_slice(&tekton).unwrap(), serde_json::from_slice(&envelope).unwrap());
    assert_eq!(ours["payload"], theirs["payload"], "Archivista keeps the envelope that was signed");
    assert_eq!(ours["signatures"][0]["sig"], theirs["signatures"][0]["sig"]);
    let dir = tmpdir("archivista-verify");
    std::fs::write(dir.join("att.json"), &envelope).unwrap();
    let att = dir.join("att.json");
    cosign_verifies(
        &keys,
        &[
            "verify-blob-attestation",
            "--insecure-ignore-tlog",
            "--key",
            "cosign.pub",
            "--signature",
            att.to_str().unwrap(),
            "--type",
            "slsaprovenance",
            "--check-claims=false",
            "/dev/null",
        ],
    );
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signer_storage_requests_total{backend="archivista"} 1"#), "one upload per run: {m}");

    // The same run in another namespace, signed by the same key: the same
    // statement and (ECDSA per RFC 6979) the same envelope, which Archivista
    // already has and answers 500 to. It is found stored under its gitoid.
    let ns2 = namespace_with_config(&env, "archivista-again", &config).await;
    let _s2 = start_signer(env.signer_client(&ns2).await, signer_options(&ns2, &keys, vec![ns2.clone()])).await;
    build_taskrun(&env, &ns2, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns2, "TaskRun", "build").await, "true");
    let a2 = runs_api(&env, &ns2, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    let uid2 = uid(&env, &ns2, "build").await;
    let tekton2 = &a2[&format!("chains.tekton.dev/signature-taskrun-{uid2}")];
    assert_eq!(STANDARD.decode(tekton2).unwrap(), tekton, "the same envelope");
    assert_eq!(&a2["chains.tekton.dev/archivista-gitoid"], gitoid, "the envelope Archivista already had");
    assert!(a2.get("chains.tekton.dev/retries").is_none_or(|r| r == "0"), "no retry needed: {a2:?}");
}

/// What one signed run published to Kafka, by artifact: the DSSE message
/// (value: the envelope) and the image's (value: the raw signature).
fn kafka_stored(messages: &[&support::kafka::Message]) -> Stored {
    let is_dsse = |m: &&&support::kafka::Message| m.value.starts_with(b"{");
    let dsse = messages.iter().find(is_dsse).expect("the DSSE message");
    let image = messages.iter().find(|m| !is_dsse(m)).expect("the image message");
    assert_eq!(dsse.headers["signature"], dsse.value, "upstream's signature header is the value");
    assert_eq!(image.headers["signature"], STANDARD.encode(&image.value).into_bytes(), "a raw signature, as text");
    let decode = |m: &support::kafka::Message| STANDARD.decode(&m.headers["payload"]).expect("base64 payload header");
    assert_eq!(messages.iter().map(|m| m.headers.len()).max(), Some(2), "payload and signature only");
    Stored {
        envelope: dsse.value.clone(),
        statement: decode(dsse),
        image_signature: image.value.clone(),
        image_payload: decode(image),
    }
}

/// `kafka` against a real Kafka broker, read back with Kafka's own console
/// consumer: each artifact is one record with upstream's value and headers,
/// and it verifies with cosign and openssl. A broker that is down is
/// retried until it is back (nothing published twice), and, down for good,
/// given up with an Event naming the backend and the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_records_are_upstreams_verify_and_a_broker_outage_is_retried() {
    let k = support::kafka::kafka();
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let topic = format!("chains-{}", support::free_port());
    k.create_topic(&topic, 3);
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "tekton,kafka"),
        ("artifacts.oci.storage", "kafka"),
        ("storage.pubsub.provider", "kafka"),
        ("storage.pubsub.topic", topic.as_str()),
        ("storage.pubsub.kafka.bootstrap.servers", k.bootstrap.as_str()),
    ];
    let ns = namespace_with_config(&env, "kafka", &config).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.http_timeout = std::time::Duration::from_secs(1);
    let s = start_signer(env.signer_client(&ns).await, opts).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let messages = k.consume(&topic, 3000);
    assert_eq!(messages.len(), 2, "one record per artifact: {messages:?}");
    let stored = kafka_stored(&messages.iter().collect::<Vec<_>>());
    verify(&stored, &keys);
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    let run_uid = uid(&env, &ns, "build").await;
    let tekton = STANDARD.decode(&a[&format!("chains.tekton.dev/payload-taskrun-{run_uid}")]).unwrap();
    assert_eq!(tekton, stored.statement, "the statement the tekton annotation has");
    let m = s.signer.metrics.render();
    assert!(
        m.contains(r#"signer_storage_requests_total{backend="kafka"} 3"#),
        "one metadata request, then one produce per artifact: {m}"
    );

    // Down: retried (the attempts count up), not failed; back: signed once.
    k.script("stop");
    build_taskrun(&env, &ns, "while-down", "default", "registry.example/team/app", DIGEST).await;
    retried(&env, &ns, "while-down", 2, &String::new).await;
    let api = runs_api(&env, &ns, "TaskRun");
    k.script("up");
    assert_eq!(signed(&env, &ns, "TaskRun", "while-down").await, "true");
    let all = k.consume(&topic, 3000);
    assert_eq!(all.len(), 4, "nothing published twice over the retries: {all:?}");
    let down_uid = uid(&env, &ns, "while-down").await;
    let a = api.get("while-down").await.unwrap().metadata.annotations.unwrap();
    let statement = STANDARD.decode(&a[&format!("chains.tekton.dev/payload-taskrun-{down_uid}")]).unwrap();
    let payload_is =
        |m: &&support::kafka::Message| STANDARD.decode(&m.headers["payload"]).ok() == Some(statement.clone());
    let dsse = all.iter().find(|m| m.value.starts_with(b"{") && payload_is(m)).expect("the new run's DSSE record");
    let image = all.iter().rfind(|m| !m.value.starts_with(b"{")).expect("an image record");
    let stored = kafka_stored(&[dsse, image]);
    assert_eq!(stored.statement, statement, "the record of the run signed after the outage");
    verify(&stored, &keys);

    // A broker that stalls past the deadline (SIGSTOP, as a long GC pause
    // would) with the produce requests already sent: when it resumes it
    // appends them, and the retry finds them there instead of publishing
    // again.
    let before = all.len();
    k.signal("STOP");
    build_taskrun(&env, &ns, "stalled", "default", "registry.example/team/app", DIGEST).await;
    retried(&env, &ns, "stalled", 1, &String::new).await;
    k.signal("CONT");
    assert_eq!(signed(&env, &ns, "TaskRun", "stalled").await, "true");
    let all = k.consume(&topic, 3000);
    assert_eq!(all.len(), before + 2, "the stalled records were found, not published again: {all:?}");

    // Down for good: after the retry limit the run ends failed, with an
    // Event naming the backend and the topic.
    k.script("stop");
    build_taskrun(&env, &ns, "stays-down", "default", "registry.example/team/app", DIGEST).await;
    let outcome = signed(&env, &ns, "TaskRun", "stays-down").await;
    let target = format!("kafka topic {topic} at {}", k.bootstrap);
    let note = event_with(&env, &ns, Some("stays-down"), "SigningFailed", &["kafka storage", &target]).await;
    k.script("up");
    assert_eq!(outcome, "failed");
    assert!(note.contains("giving up after 10 attempts"), "{note}");
}
