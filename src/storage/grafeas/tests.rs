use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;
use crate::config::Artifact;
use crate::formats::artifacts::Image;
use crate::signing::Subject;
use crate::tekton::RunKind;

/// A P-256 public key; its ni URI as `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64url` gives it.
const PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZshWH963RameoKABx6s+D+iFqeP4
d44N8vCLI/xKk+kmOrOco7L0Uu7rMgTnpgn8ojY1uDidAek63n/l2A68SQ==
-----END PUBLIC KEY-----
";
const NI: &str = "ni:///sha-256;veVbGO6fhYpQtaGnYNWZdXov2XBtV5A6UMOYuqynrLU";

fn run_obj() -> serde_json::Value {
    json!({ "apiVersion": "tekton.dev/v1", "metadata": { "namespace": "team", "name": "build-1", "uid": "u-1" } })
}

fn signed(artifact: Artifact, payload: &[u8], envelope: bool) -> Signed {
    let mut s = Signed::fixture(artifact, "k", payload, None, envelope);
    s.verifier.public_key_pem = PUB.into();
    s
}

#[test]
fn the_key_id_is_the_rfc_6920_name_of_the_public_key() {
    assert_eq!(key_id(PUB).unwrap(), NI);
    assert!(key_id("PEM").unwrap_err().starts_with("the signer's public key"));
}

#[test]
fn an_image_signature_is_an_attestation_occurrence_under_the_simplesigning_note() {
    let obj = run_obj();
    let run = Run::new(RunKind::TaskRun, &obj);
    let mut s = signed(Artifact::Oci, br#"{"critical":{}}"#, false);
    s.subject =
        Subject::Image(Image { repo: "reg.example/team/app".into(), digest: format!("sha256:{}", "a".repeat(64)) });
    let p = occurrences(&run, &s, "proj", &Notes::default()).unwrap();
    assert_eq!(p.note_id, "tekton-team-simplesigning");
    assert_eq!(p.note["attestation"]["hint"]["humanReadableName"], occurrence::DEFAULT_HINT);
    let [o] = p.occurrences.as_slice() else { panic!("{:?}", p.occurrences) };
    assert_eq!(o["resourceUri"], format!("reg.example/team/app@sha256:{}", "a".repeat(64)));
    assert_eq!(o["noteName"], "projects/proj/notes/tekton-team-simplesigning");
    let sig = STANDARD.encode(b"sig");
    assert_eq!(o["attestation"]["signatures"], json!([{ "signature": sig, "publicKeyId": NI }]));
    assert_eq!(o["attestation"]["serializedPayload"], STANDARD.encode(br#"{"critical":{}}"#));
    assert_eq!(o["envelope"]["payloadType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert_eq!(o["envelope"]["signatures"], json!([{ "sig": sig, "keyid": NI }]));

    let notes = Notes { id: "mine".into(), hint: "hint".into() };
    let p = occurrences(&run, &s, "proj", &notes).unwrap();
    assert_eq!(
        (p.note_id.as_str(), &p.note["attestation"]["hint"]["humanReadableName"]),
        ("mine-simplesigning", &json!("hint"))
    );
}

#[test]
fn provenance_is_one_build_occurrence_per_subject_digest() {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [
            { "name": "reg.example/app", "digest": { "sha256": "b".repeat(64) } },
            { "name": "git", "digest": { "sha1": "c".repeat(40), "n": 1 } },
        ],
        "predicate": {
            "builder": { "id": "https://tekton.dev/chains/v2" },
            "buildType": "tekton.dev/v1/TaskRun",
            "invocation": { "configSource": {}, "parameters": { "empty": "", "n": 1 }, "environment": [1] },
            "buildConfig": { "steps": [] },
            "metadata": { "buildStartedOn": "2026-11-23T10:00:00Z", "buildFinishedOn": "soon",
                          "completeness": { "parameters": false }, "reproducible": false },
            "materials": [{ "uri": "oci://x", "digest": { "sha256": "d" } }],
            "extra": "dropped",
        },
    });
    let payload = serde_json::to_vec(&statement).unwrap();
    let obj = run_obj();
    let run = Run::new(RunKind::PipelineRun, &obj);
    let p = occurrences(&run, &signed(Artifact::PipelineRun, &payload, true), "proj", &Notes::default()).unwrap();
    assert_eq!(p.note_id, "tekton-team-pipelinerun-intoto");
    assert_eq!(p.note["build"]["builderVersion"], "tekton.dev/v1/PipelineRun");
    let uris: Vec<&str> = p.occurrences.iter().filter_map(|o| o["resourceUri"].as_str()).collect();
    assert_eq!(uris, [format!("reg.example/app@sha256:{}", "b".repeat(64)), format!("git@sha1:{}", "c".repeat(40))]);
    let o = &p.occurrences[0];
    assert_eq!(o["noteName"], "projects/proj/notes/tekton-team-pipelinerun-intoto");
    assert_eq!(o["envelope"]["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(o["envelope"]["payload"], STANDARD.encode(&payload));
    // The signature upstream stores for in-toto: the DSSE envelope.
    let sig = STANDARD.decode(o["envelope"]["signatures"][0]["sig"].as_str().unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&sig).unwrap()["payloadType"],
        "application/vnd.in-toto+json"
    );
    let st = &o["build"]["intotoStatement"];
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(st["subject"][1], json!({ "name": "git", "digest": { "sha1": "c".repeat(40) } }));
    let z = &st["slsaProvenanceZeroTwo"];
    assert_eq!(z["builder"]["id"], "https://tekton.dev/chains/v2");
    // Structs are kept whole (even empty strings inside); a list is no Struct.
    assert_eq!(z["invocation"]["parameters"], json!({ "empty": "", "n": 1 }));
    assert!(z["invocation"].get("environment").is_none() && z["invocation"].get("configSource").is_none());
    assert_eq!(z["buildConfig"], json!({ "steps": [] }));
    assert_eq!(z["metadata"]["buildStartedOn"], "2026-11-23T10:00:00Z");
    assert!(z["metadata"].get("buildFinishedOn").is_none(), "not a time");
    assert_eq!(z["materials"], json!([{ "uri": "oci://x", "digest": { "sha256": "d" } }]));
    assert!(z.get("extra").is_none());
}

#[test]
fn slsa_v1_provenance_goes_in_in_toto_slsa_provenance_v1() {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://slsa.dev/provenance/v1",
        "subject": [{ "name": "reg.example/app", "digest": { "sha256": "e".repeat(64) } }],
        "predicate": {
            "buildDefinition": { "buildType": "https://tekton.dev/chains/v2/slsa", "externalParameters": { "runSpec": {} },
                                 "resolvedDependencies": [{ "uri": "git+https://x", "digest": { "sha1": "f" }, "name": "inputs/result" }] },
            "runDetails": { "builder": { "id": "https://tekton.dev/chains/v2" },
                            "metadata": { "invocationId": "u-1", "startedOn": "2026-11-23T10:00:00Z" } },
        },
    });
    let payload = serde_json::to_vec(&statement).unwrap();
    let obj = run_obj();
    let run = Run::new(RunKind::TaskRun, &obj);
    let p = occurrences(&run, &signed(Artifact::TaskRun, &payload, true), "proj", &Notes::default()).unwrap();
    let v1 = &p.occurrences[0]["build"]["inTotoSlsaProvenanceV1"];
    assert_eq!(v1["predicate"]["buildDefinition"]["externalParameters"], json!({ "runSpec": {} }));
    assert_eq!(v1["predicate"]["buildDefinition"]["resolvedDependencies"][0]["name"], "inputs/result");
    assert_eq!(
        v1["predicate"]["runDetails"]["metadata"],
        json!({ "invocationId": "u-1", "startedOn": "2026-11-23T10:00:00Z" })
    );
}

#[test]
fn hostile_statements_give_errors_or_nothing_never_a_panic() {
    let obj = run_obj();
    let run = Run::new(RunKind::TaskRun, &obj);
    for payload in [&b"not json"[..], b"[]", b"{\"subject\": 3}", b"{\"subject\": [{\"digest\": {}}]}", b"null"] {
        match occurrences(&run, &signed(Artifact::TaskRun, payload, true), "p", &Notes::default()) {
            Ok(p) => assert!(p.occurrences.is_empty(), "{payload:?}"),
            Err(e) => assert!(e.starts_with("the in-toto statement"), "{e}"),
        }
    }
}

#[test]
fn urls_and_replies() {
    let u = api_url("http://127.0.0.1:1/", "projects/p/notes", &[("noteId", "a b")]).unwrap();
    assert_eq!(u.as_str(), "http://127.0.0.1:1/v1/projects/p/notes?noteId=a+b");
    assert_eq!(crate::http::google_or_emulator(ENDPOINT, None), "https://containeranalysis.googleapis.com");
    assert_eq!(
        check_reply(br#"{"name":"projects/p/occurrences/1"}"#, "projects/p/occurrences/").unwrap(),
        "projects/p/occurrences/1"
    );
    assert!(check_reply(br#"{"name":"projects/q/occurrences/1"}"#, "projects/p/occurrences/").is_err());
    assert!(check_reply(b"<html>", "projects/p/").is_err());
}
