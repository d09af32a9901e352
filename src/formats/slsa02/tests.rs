//! `in-toto` (SLSA Provenance v0.2) statements for small hand-written runs,
//! then a check against the reference project's own formatter inputs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

const D1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const D4: &str = "4444444444444444444444444444444444444444444444444444444444444444";
const SHA1: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn config(deep: bool) -> ChainsConfig {
    let data = BTreeMap::from([("artifacts.pipelinerun.enable-deep-inspection".to_string(), deep.to_string())]);
    ChainsConfig::parse(&data).unwrap()
}

/// A finished TaskRun of pipeline task `task` (None: a standalone TaskRun).
fn taskrun(name: &str, task: Option<&str>, results: Value) -> Value {
    let labels = task.map(|t| json!({ "tekton.dev/pipelineTask": t })).unwrap_or(json!({}));
    json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": labels },
        "spec": { "taskRef": { "name": name } },
        "status": {
            "conditions": [{ "type": "Succeeded", "status": "True" }],
            "startTime": "2024-05-01T10:00:00Z",
            "completionTime": "2024-05-01T10:01:00Z",
            "steps": [{ "name": "build", "imageID": format!("docker-pullable://registry.example/{name}@sha256:{D4}") }],
            "taskSpec": { "steps": [{ "name": "build", "image": "registry.example/builder", "script": "make" }] },
            "results": results,
        }
    })
}

/// A finished PipelineRun whose pipeline has the tasks `tasks`, in that order.
fn pipelinerun(tasks: &[&str], results: Value) -> Value {
    json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": { "name": "pr", "namespace": "ns", "uid": "uid-pr" },
        "spec": { "pipelineRef": { "name": "p" } },
        "status": {
            "conditions": [{ "type": "Succeeded", "status": "True" }],
            "startTime": "2024-05-01T09:59:00Z",
            "completionTime": "2024-05-01T10:05:00Z",
            "pipelineSpec": {
                "tasks": tasks.iter().map(|t| json!({ "name": t, "taskRef": { "name": t } })).collect::<Vec<_>>(),
            },
            "results": results,
        }
    })
}

fn result(name: &str, value: impl Into<Value>) -> Value {
    json!({ "name": name, "value": value.into() })
}

fn statement_of(kind: RunKind, obj: &Value, children: &[Value], config: &ChainsConfig) -> Value {
    let run = Run::new(kind, obj);
    serde_json::from_slice(&statement(&run, config, &detect(&run), children)).unwrap()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array().into_iter().flatten().map(|e| e[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn taskrun_statement_has_in_toto_v01_header_builder_build_type_and_times() {
    let tr = taskrun("build", None, json!([]));
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(s["predicateType"], "https://slsa.dev/provenance/v0.2");
    let p = &s["predicate"];
    assert_eq!(p["builder"]["id"], "https://tekton.dev/chains/v2");
    assert_eq!(p["buildType"], "tekton.dev/v1/TaskRun");
    assert_eq!(p["metadata"]["buildStartedOn"], "2024-05-01T10:00:00Z");
    assert_eq!(p["metadata"]["buildFinishedOn"], "2024-05-01T10:01:00Z");
    assert_eq!(p["metadata"]["reproducible"], false);
    assert_eq!(p["metadata"]["completeness"], json!({ "parameters": false, "environment": false, "materials": false }));
}

#[test]
fn a_run_without_type_hinted_outputs_has_no_subject_field() {
    let tr = taskrun("build", None, json!([result("some-result", "x")]));
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert!(s.get("subject").is_none(), "{s}");
}

#[test]
fn taskrun_subjects_are_images_then_artifact_uris_then_artifact_outputs() {
    let tr = taskrun(
        "build",
        None,
        json!([
            result("bin-ARTIFACT_OUTPUTS", json!({ "uri": "pkg:generic/tool", "digest": format!("sha256:{D3}") })),
            result("file-ARTIFACT_URI", "gs://bucket/file"),
            result("file-ARTIFACT_DIGEST", format!("sha256:{D2}")),
            result("IMAGE_URL", "registry.example/app:v1"),
            result("IMAGE_DIGEST", format!("sha256:{D1}")),
            result("IMAGES", format!("busybox@sha256:{D2}")),
        ]),
    );
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert_eq!(
        s["subject"],
        json!([
            { "name": "registry.example/app", "digest": { "sha256": D1 } },
            { "name": "index.docker.io/library/busybox", "digest": { "sha256": D2 } },
            { "name": "gs://bucket/file", "digest": { "sha256": D2 } },
            { "name": "pkg:generic/tool", "digest": { "sha256": D3 } },
        ])
    );
}

#[test]
fn taskrun_materials_are_step_and_sidecar_images_then_git_then_artifact_inputs() {
    let mut tr = taskrun(
        "build",
        None,
        json!([
            result(
                "src-ARTIFACT_INPUTS",
                json!({ "uri": "https://git.example/lib", "digest": format!("sha1:{SHA1}") })
            ),
            result("CHAINS-GIT_URL", "https://git.example/app"),
            result("CHAINS-GIT_COMMIT", "abc123"),
        ]),
    );
    tr["status"]["sidecars"] = json!([{ "name": "dind", "imageID": format!("docker.io/library/docker@sha256:{D2}") }]);
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert_eq!(
        s["predicate"]["materials"],
        json!([
            { "uri": "oci://registry.example/build", "digest": { "sha256": D4 } },
            { "uri": "oci://docker.io/library/docker", "digest": { "sha256": D2 } },
            { "uri": "git+https://git.example/app.git", "digest": { "sha1": "abc123" } },
            { "uri": "https://git.example/lib", "digest": { "sha1": SHA1 } },
        ])
    );
}

#[test]
fn taskrun_git_material_falls_back_to_the_task_param_defaults() {
    let mut tr = taskrun("build", None, json!([]));
    tr["spec"]["params"] = json!([{ "name": "CHAINS-GIT_COMMIT", "value": "fromparam" }]);
    tr["status"]["taskSpec"]["params"] = json!([
        { "name": "CHAINS-GIT_URL", "type": "string", "default": "https://git.example/default" },
        { "name": "CHAINS-GIT_COMMIT", "type": "string", "default": "fromdefault" },
    ]);
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    let mats = &s["predicate"]["materials"];
    assert_eq!(names(mats, "uri"), ["oci://registry.example/build", "git+https://git.example/default.git"]);
    assert_eq!(mats[1]["digest"], json!({ "sha1": "fromparam" }));
}

#[test]
fn taskrun_invocation_has_config_source_parameters_and_environment() {
    let mut tr = taskrun("build", None, json!([]));
    tr["metadata"]["annotations"] = json!({
        "team": "a",
        "chains.tekton.dev/signed": "true",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    });
    tr["spec"]["params"] = json!([{ "name": "IMAGE", "value": "registry.example/app" }]);
    tr["status"]["taskSpec"]["params"] =
        json!([{ "name": "IMAGE", "default": "x" }, { "name": "CONTEXT", "default": "." }]);
    tr["status"]["provenance"] = json!({ "refSource": {
        "uri": "git+https://git.example/tasks", "digest": { "sha1": SHA1 }, "entryPoint": "build.yaml",
    } });
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    let inv = &s["predicate"]["invocation"];
    assert_eq!(
        inv["configSource"],
        json!({ "uri": "git+https://git.example/tasks", "digest": { "sha1": SHA1 }, "entryPoint": "build.yaml" })
    );
    assert_eq!(inv["parameters"], json!({ "IMAGE": "registry.example/app", "CONTEXT": "." }));
    // Chains' own annotations and kubectl's copy of the object are left out.
    assert_eq!(inv["environment"], json!({ "annotations": { "team": "a" } }));
}

#[test]
fn the_reproducible_label_sets_metadata_reproducible() {
    let mut tr = taskrun("build", None, json!([]));
    tr["metadata"]["labels"] = json!({ "chains.tekton.dev/reproducible": "true" });
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert_eq!(s["predicate"]["metadata"]["reproducible"], true);
}

#[test]
fn taskrun_build_config_lists_each_step_with_its_image() {
    let tr = taskrun("build", None, json!([]));
    let s = statement_of(RunKind::TaskRun, &tr, &[], &config(false));
    assert_eq!(
        s["predicate"]["buildConfig"]["steps"],
        json!([{
            "entryPoint": "make",
            "arguments": null,
            "environment": { "container": "build", "image": format!("oci://registry.example/build@sha256:{D4}") },
            "annotations": null,
        }])
    );
}

#[test]
fn pipelinerun_build_config_lists_executed_tasks_in_pipeline_order() {
    let pr = pipelinerun(&["clone", "build", "test"], json!([]));
    let mut unfinished = taskrun("test", Some("test"), json!([]));
    unfinished["status"].as_object_mut().unwrap().remove("completionTime");
    // Children come in any order (status.childReferences); unfinished ones are left out.
    let children = [taskrun("build", Some("build"), json!([])), unfinished, taskrun("clone", Some("clone"), json!([]))];
    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(false));
    assert_eq!(s["predicate"]["buildType"], "tekton.dev/v1/PipelineRun");
    assert_eq!(names(&s["predicate"]["buildConfig"]["tasks"], "name"), ["clone", "build"]);
    assert_eq!(s["predicate"]["metadata"]["buildStartedOn"], "2024-05-01T09:59:00Z");
}

#[test]
fn pipelinerun_materials_list_artifact_inputs_before_the_git_source() {
    let mut pr = pipelinerun(
        &["clone", "build"],
        json!([
            result("CHAINS-GIT_URL", "https://git.example/app"),
            result("CHAINS-GIT_COMMIT", "abc123"),
            result("img-ARTIFACT_INPUTS", json!({ "uri": "registry.example/base", "digest": format!("sha256:{D1}") })),
        ]),
    );
    pr["status"]["provenance"] =
        json!({ "refSource": { "uri": "git+https://git.example/p", "digest": { "sha1": SHA1 } } });
    let mut build = taskrun("build", Some("build"), json!([]));
    build["status"]["provenance"] =
        json!({ "refSource": { "uri": "git+https://git.example/t", "digest": { "sha1": "b" } } });
    let children = [build, taskrun("clone", Some("clone"), json!([]))];
    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(false));
    assert_eq!(
        names(&s["predicate"]["materials"], "uri"),
        [
            "git+https://git.example/p",
            "oci://registry.example/clone",
            "oci://registry.example/build",
            "git+https://git.example/t",
            "registry.example/base",
            "git+https://git.example/app.git",
        ]
    );
}

#[test]
fn pipelinerun_deep_inspection_puts_the_tasks_inputs_between_the_runs_inputs_and_git() {
    let pr = pipelinerun(
        &["clone", "build"],
        json!([
            result("CHAINS-GIT_URL", "https://git.example/app"),
            result("CHAINS-GIT_COMMIT", "abc123"),
            result("img-ARTIFACT_INPUTS", json!({ "uri": "registry.example/base", "digest": format!("sha256:{D1}") })),
        ]),
    );
    let clone = taskrun(
        "clone",
        Some("clone"),
        json!([
            result("CHAINS-GIT_URL", "https://git.example/app"),
            result("CHAINS-GIT_COMMIT", "fromclone"),
            result("x-ARTIFACT_INPUTS", json!({ "uri": "pkg:generic/x", "digest": format!("sha256:{D2}") })),
        ]),
    );
    let children = [taskrun("build", Some("build"), json!([])), clone];
    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(true));
    let mats = &s["predicate"]["materials"];
    assert_eq!(
        names(mats, "uri"),
        [
            "oci://registry.example/clone",
            "oci://registry.example/build",
            "registry.example/base",
            "git+https://git.example/app.git",
            "pkg:generic/x",
            "git+https://git.example/app.git",
        ]
    );
    assert_eq!(mats[3]["digest"], json!({ "sha1": "fromclone" }));
    assert_eq!(mats[5]["digest"], json!({ "sha1": "abc123" }));
}

#[test]
fn pipelinerun_subjects_without_deep_inspection_are_the_runs_own() {
    let pr = pipelinerun(&["build"], json!([result("IMAGES", format!("registry.example/app@sha256:{D1}"))]));
    let children =
        [taskrun("build", Some("build"), json!([result("IMAGES", format!("registry.example/lib@sha256:{D2}"))]))];
    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(false));
    assert_eq!(names(&s["subject"], "name"), ["registry.example/app"]);
}

#[test]
fn pipelinerun_deep_inspection_subjects_are_the_tasks_then_the_runs_own() {
    let pr = pipelinerun(
        &["clone", "build"],
        json!([result("IMAGES", format!("registry.example/app@sha256:{D1},registry.example/lib@sha256:{D2}"))]),
    );
    let children = [
        taskrun("build", Some("build"), json!([result("IMAGES", format!("registry.example/lib@sha256:{D2}"))])),
        taskrun("clone", Some("clone"), json!([result("IMAGES", format!("registry.example/src@sha256:{D3}"))])),
    ];
    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(true));
    // The same name and digest from a task and from the run is one subject.
    assert_eq!(names(&s["subject"], "name"), ["registry.example/src", "registry.example/lib", "registry.example/app"]);
}

/// The reference project's own formatter inputs (pipeline-v1), read in place.
#[test]
fn reference_pipeline_v1_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/vectors/runs/pipeline-v1");
    let read = |f: &str| -> Option<Value> {
        Some(serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{f}")).ok()?).unwrap())
    };
    let (Some(pr), Some(tr1), Some(tr2)) = (read("pipelinerun1.json"), read("taskrun1.json"), read("taskrun2.json"))
    else {
        eprintln!("reference vectors not found at {dir}; skipped");
        return;
    };
    let oci = |repo: &str| format!("oci://gcr.io/{repo}");
    let test1 = "d4b63d3e24d6eef04a6dc0795cf8a73470688803d97c52cffa3c8d4efd3397b6";
    let children = [tr1.clone(), tr2.clone()];

    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(false));
    assert_eq!(names(&s["subject"], "name"), ["test.io/test/image"]);
    assert_eq!(
        names(&s["predicate"]["materials"], "uri"),
        [
            "github.com/test".to_string(),
            oci("test1/test1"),
            "github.com/catalog".into(),
            oci("test2/test2"),
            oci("test3/test3"),
            "github.com/test".into(),
            "abc".into(),
            "git+https://git.test.com.git".into(),
        ]
    );
    assert_eq!(names(&s["predicate"]["buildConfig"]["tasks"], "name"), ["git-clone", "build"]);

    let s = statement_of(RunKind::PipelineRun, &pr, &children, &config(true));
    assert_eq!(names(&s["subject"], "name"), ["gcr.io/my/image", "test.io/test/image"]);
    let commits: Vec<_> = s["predicate"]["materials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["uri"] == "git+https://git.test.com.git")
        .map(|m| m["digest"]["sha1"].as_str().unwrap())
        .collect();
    assert_eq!(commits, ["sha:taskdefault", "sha:taskrun", "abcd"]);

    let s = statement_of(RunKind::TaskRun, &tr2, &[], &config(false));
    assert_eq!(s["predicate"]["buildType"], "tekton.dev/v1/TaskRun");
    assert_eq!(
        s["predicate"]["materials"],
        json!([
            { "uri": oci("test1/test1"), "digest": { "sha256": test1 } },
            { "uri": "git+https://git.test.com.git", "digest": { "sha1": "sha:taskdefault" } },
        ])
    );
}
