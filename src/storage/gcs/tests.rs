use serde_json::json;

use super::*;
use crate::config::Artifact;
use crate::http::google_or_emulator;
use crate::tekton::RunKind;

fn run_obj() -> serde_json::Value {
    json!({ "metadata": { "namespace": "team", "name": "build-1", "uid": "u-1" } })
}

#[test]
fn objects_are_named_as_upstream_names_them() {
    let obj = run_obj();
    let run = Run::new(RunKind::TaskRun, &obj);
    let s = Signed::fixture(Artifact::TaskRun, "taskrun-u-1", b"{}", None, false);
    let o = objects(&run, &s);
    let names: Vec<&str> = o.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["taskrun-team-build-1/taskrun-u-1.signature", "taskrun-team-build-1/taskrun-u-1.payload"]);
    assert_eq!((o[0].body.as_slice(), o[1].body.as_slice()), (&b"sig"[..], &b"{}"[..]));

    // In-toto: the envelope is the signature; a certificate adds .cert and .chain.
    let run = Run::new(RunKind::PipelineRun, &obj);
    let s = Signed::fixture(Artifact::PipelineRun, "pipelinerun-u-1", b"{}", Some("CERT"), true);
    let o = objects(&run, &s);
    let names: Vec<&str> = o.iter().map(|o| o.name.as_str()).collect();
    let p = "pipelinerun-team-build-1/pipelinerun-u-1";
    assert_eq!(names, [format!("{p}.signature"), format!("{p}.payload"), format!("{p}.cert"), format!("{p}.chain")]);
    let envelope: serde_json::Value = serde_json::from_slice(&o[0].body).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    assert_eq!((o[2].body.as_slice(), o[3].body.as_slice()), (&b"CERT"[..], &b""[..]));
}

#[test]
fn the_endpoint_is_google_or_the_emulator() {
    assert_eq!(google_or_emulator(ENDPOINT, None), "https://storage.googleapis.com");
    assert_eq!(google_or_emulator(ENDPOINT, Some(" ")), "https://storage.googleapis.com");
    assert_eq!(google_or_emulator(ENDPOINT, Some("127.0.0.1:4443")), "http://127.0.0.1:4443");
    assert_eq!(google_or_emulator(ENDPOINT, Some("https://gcs.example/")), "https://gcs.example");
}

#[test]
fn upload_urls_escape_the_object_name() {
    let u = upload_url("http://127.0.0.1:4443", "b", "taskrun-ns-n/taskrun-u.payload").unwrap();
    assert_eq!(
        u.as_str(),
        "http://127.0.0.1:4443/upload/storage/v1/b/b/o?uploadType=media&name=taskrun-ns-n%2Ftaskrun-u.payload"
    );
    let u = upload_url("http://h/prefix/", "b", "a&b=c d").unwrap();
    assert_eq!(u.as_str(), "http://h/prefix/upload/storage/v1/b/b/o?uploadType=media&name=a%26b%3Dc+d");
    assert!(upload_url("not a url", "b", "o").is_err());
}

#[test]
fn upload_replies_must_name_the_object_and_its_size() {
    assert_eq!(check_reply(br#"{"name":"o","size":"3"}"#, "o", 3), Ok(()));
    assert_eq!(check_reply(br#"{"name":"o","size":3}"#, "o", 3), Ok(()));
    for (reply, want) in [
        (&br#"{"name":"other","size":"3"}"#[..], "names object"),
        (br#"{"name":"o","size":"2"}"#, "size Some(2)"),
        (br#"{"name":"o","size":"-1"}"#, "size None"),
        (br#"{"name":"o"}"#, "size None"),
        (br#"[]"#, "names object None"),
        (b"<html>", "upload reply"),
    ] {
        let e = check_reply(reply, "o", 3).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}
