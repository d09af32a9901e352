//! Runs as the Pipelines controller would finish them, and the real cosign.

use std::path::Path;
use std::process::Command;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{Env, eventually, runs_api};

/// Runs a command; returns (success, stdout + stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `cosign <args>` in `keys` (where cosign.pub is), with extra env.
pub fn cosign(keys: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let bin = super::cosign().expect("cosign");
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(keys).env("COSIGN_PASSWORD", "s3cret-pw");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

pub fn finished_status(results: Value) -> Value {
    finished_at(results, "2026-11-23T10:00:10Z")
}

pub fn finished_at(results: Value, completion: &str) -> Value {
    json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": completion,
        "taskSpec": { "steps": [{ "name": "build", "image": "registry.example/tools/builder:1" }] },
        "results": results,
    }})
}

/// Creates a TaskRun that reports `image@digest` and finishes it.
pub async fn build_taskrun(env: &Env, ns: &str, name: &str, sa: &str, image: &str, digest: &str) {
    build_taskrun_at(env, ns, name, sa, image, digest, "2026-11-23T10:00:10Z").await
}

/// [`build_taskrun`], finished at `completion` (provenance differs by its times, not by run name).
pub async fn build_taskrun_at(env: &Env, ns: &str, name: &str, sa: &str, image: &str, digest: &str, completion: &str) {
    let api = runs_api(env, ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "taskRef": { "name": "buildah" }, "serviceAccountName": sa } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let results = json!([
        { "name": "IMAGE_URL", "type": "string", "value": image },
        { "name": "IMAGE_DIGEST", "type": "string", "value": digest },
    ]);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&finished_at(results, completion))).await.unwrap();
}

pub async fn signed(env: &Env, ns: &str, kind: &str, name: &str) -> String {
    let api = runs_api(env, ns, kind);
    eventually(&format!("{kind} {name} signed or failed"), || async {
        let o = api.get(name).await.ok()?;
        o.metadata.annotations?.get("chains.tekton.dev/signed").cloned()
    })
    .await
}

/// Waits until TaskRun `name` of `ns` has been retried `at_least` times,
/// checking it never ended `signed=failed` meanwhile (`context` is shown
/// when it did).
pub async fn retried(env: &Env, ns: &str, name: &str, at_least: u32, context: &dyn Fn() -> String) {
    let api = runs_api(env, ns, "TaskRun");
    eventually(&format!("{at_least} retries of TaskRun {name}"), || async {
        let a = api.get(name).await.ok()?.metadata.annotations?;
        assert_ne!(a.get("chains.tekton.dev/signed").map(String::as_str), Some("failed"), "{}", context());
        (a.get("chains.tekton.dev/retries").and_then(|r| r.parse::<u32>().ok()) >= Some(at_least)).then_some(())
    })
    .await;
}

/// Creates TaskRun `name` in `ns` with `annotations`, and finishes it with `results`.
pub async fn finished_taskrun(env: &Env, ns: &str, name: &str, annotations: Value, results: Value) {
    let api = runs_api(env, ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": ns, "annotations": annotations },
        "spec": { "taskRef": { "name": "test" } } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&finished_status(results))).await.unwrap();
}
