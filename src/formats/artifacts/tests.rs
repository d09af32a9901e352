use serde_json::json;

use super::*;
use crate::formats::run::{Run, RunKind};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn taskrun(results: serde_json::Value) -> serde_json::Value {
    json!({ "metadata": { "name": "build", "namespace": "ns", "uid": "u1" },
            "spec": { "params": [{ "name": "CHAINS-GIT_URL", "value": "https://git.example/param" },
                                 { "name": "CHAINS-GIT_COMMIT", "value": "abc" }] },
            "status": { "results": results } })
}

#[test]
fn image_url_and_digest_with_prefixes_and_images_list() {
    let obj = taskrun(json!([
        { "name": "IMAGE_URL", "type": "string", "value": "registry.example:5000/team/app:v1" },
        { "name": "IMAGE_DIGEST", "type": "string", "value": D1 },
        { "name": "first-IMAGE_URL", "type": "string", "value": "busybox" },
        { "name": "first-IMAGE_DIGEST", "type": "string", "value": D2 },
        { "name": "IMAGES", "type": "string", "value": format!("quay.io/a/b@{D1},\n gcr.io/x/y@{D2}\n") },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    let repos: Vec<_> = a.images.iter().map(|i| i.repo.as_str()).collect();
    assert_eq!(
        repos,
        ["gcr.io/x/y", "index.docker.io/library/busybox", "quay.io/a/b", "registry.example:5000/team/app"]
    );
    assert_eq!(a.subjects.len(), 4);
    assert_eq!(a.subjects[0].digest["sha256"], D1.trim_start_matches("sha256:"));
    assert_eq!(a.git, Some(("https://git.example/param".into(), "abc".into())));
}

#[test]
fn structured_artifacts_and_git_results_win_over_params() {
    let obj = taskrun(json!([
        { "name": "img-ARTIFACT_OUTPUTS", "type": "object",
          "value": { "uri": "registry.example/app", "digest": D1, "isBuildArtifact": "true" } },
        { "name": "bin-ARTIFACT_OUTPUTS", "type": "object",
          "value": { "uri": "pkg:generic/tool", "digest": "sha512:".to_string() + &"a".repeat(128) } },
        { "name": "src-ARTIFACT_INPUTS", "type": "object", "value": { "uri": "git+https://git.example/src", "digest": "sha1:".to_string() + &"b".repeat(40) } },
        { "name": "file-ARTIFACT_URI", "type": "string", "value": "gs://bucket/file" },
        { "name": "file-ARTIFACT_DIGEST", "type": "string", "value": D2 },
        { "name": "CHAINS-GIT_URL", "type": "string", "value": "https://git.example/result" },
        { "name": "CHAINS-GIT_COMMIT", "type": "string", "value": "def" },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.images, vec![Image { repo: "registry.example/app".into(), digest: D1.into() }]);
    let names: Vec<_> = a.subjects.iter().map(|s| s.name.as_str()).collect();
    // Upstream's order: images, then *ARTIFACT_URI pairs, then *ARTIFACT_OUTPUTS.
    assert_eq!(names, ["registry.example/app", "gs://bucket/file", "pkg:generic/tool"]);
    assert_eq!(a.inputs[0].name, "git+https://git.example/src");
    assert_eq!(a.git, Some(("https://git.example/result".into(), "def".into())));
}

#[test]
fn malformed_results_become_warnings_naming_the_result() {
    let obj = taskrun(json!([
        { "name": "IMAGE_URL", "type": "string", "value": "registry.example/app" },
        { "name": "IMAGE_DIGEST", "type": "string", "value": "sha256:not-hex" },
        { "name": "IMAGES", "type": "string", "value": format!("junk, quay.io/ok@{D1}") },
        { "name": "x-ARTIFACT_OUTPUTS", "type": "object", "value": { "digest": D1 } },
        { "name": "lonely-IMAGE_URL", "type": "string", "value": "quay.io/x" },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    let by: Vec<_> = a.warnings.iter().map(|w| w.result.as_str()).collect();
    assert_eq!(by, ["IMAGE_URL", "IMAGES", "x-ARTIFACT_OUTPUTS", "lonely-IMAGE_URL"]);
    assert!(a.warnings[0].reason.contains("expected 64 hex characters"), "{:?}", a.warnings[0]);
    assert!(a.warnings[1].reason.contains("\"junk\""), "{:?}", a.warnings[1]);
    // The good entry still counts.
    assert_eq!(a.images.len(), 1);
}

#[test]
fn subjects_with_the_same_name_and_a_shared_digest_merge() {
    let obj = taskrun(json!([
        { "name": "IMAGE_URL", "type": "string", "value": "quay.io/a/b" },
        { "name": "IMAGE_DIGEST", "type": "string", "value": D1 },
        { "name": "IMAGES", "type": "string", "value": format!("quay.io/a/b@{D1}") },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    assert_eq!(a.subjects.len(), 1);
    assert_eq!(a.images.len(), 1);
}

#[test]
fn a_short_named_build_artifact_is_a_subject_under_both_names() {
    let obj = taskrun(json!([
        { "name": "IMAGES", "type": "string", "value": format!("quay.io/a/b@{D2}") },
        { "name": "out-ARTIFACT_OUTPUTS", "type": "object",
          "value": { "uri": "abc", "digest": D1, "isBuildArtifact": "true" } },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    let names: Vec<_> = a.subjects.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["quay.io/a/b", "index.docker.io/library/abc", "abc"]);
    let v4: Vec<_> = build_artifacts(&Run::new(RunKind::TaskRun, &obj)).into_iter().map(|s| s.name).collect();
    assert_eq!(v4, ["abc", "quay.io/a/b", "index.docker.io/library/abc"]);
}

#[test]
fn git_source_falls_back_from_results_to_params_to_spec_defaults() {
    let mut obj = taskrun(json!([{ "name": "CHAINS-GIT_COMMIT", "type": "string", "value": "fromresult" }]));
    obj["spec"]["params"] = json!([]);
    obj["status"]["taskSpec"] = json!({ "params": [
        { "name": "CHAINS-GIT_URL", "type": "string", "default": "https://git.example/default" },
        { "name": "CHAINS-GIT_COMMIT", "type": "string", "default": "fromdefault" },
    ] });
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    assert_eq!(a.git, Some(("https://git.example/default".into(), "fromresult".into())));

    obj["status"]["results"] = json!([]);
    obj["status"]["taskSpec"]["params"] =
        json!([{ "name": "CHAINS-GIT_URL", "default": "https://git.example/default" }]);
    assert_eq!(detect(&Run::new(RunKind::TaskRun, &obj)).git, None, "a url without a commit is no git source");
}

#[test]
fn build_artifacts_that_are_no_image_references_are_subjects_only() {
    let obj = taskrun(json!([
        { "name": "pkg-ARTIFACT_OUTPUTS", "type": "object",
          "value": { "uri": "pkg:generic/tool@1.0", "digest": D1, "isBuildArtifact": "true" } },
        { "name": "file-ARTIFACT_OUTPUTS", "type": "object",
          "value": { "uri": "gs://bucket/file", "digest": D2, "isBuildArtifact": "true" } },
    ]));
    let a = detect(&Run::new(RunKind::TaskRun, &obj));
    assert!(a.images.is_empty(), "{:?}", a.images);
    let names: Vec<_> = a.subjects.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["pkg:generic/tool@1.0", "gs://bucket/file"]);
}

#[test]
fn an_empty_or_path_less_image_url_is_no_image() {
    let d = format!("sha256:{}", "ab".repeat(32));
    for url in ["", "  ", "registry.example/", "registry.example/a/", "registry.example//a", "library/", "/"] {
        assert!(image(url, &d).is_err(), "{url:?}");
    }
    assert!(image("registry.example/a/b", &d).is_ok());
}
