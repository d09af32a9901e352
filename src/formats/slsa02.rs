//! `in-toto` (= `slsa/v1`): SLSA Provenance v0.2 in an in-toto Statement v0.1.

use serde_json::{Map, Value, json};

use super::artifacts::{Artifacts, detect};
use super::materials::{self, Material};
use super::run::{Run, RunKind};
use super::statement;
use crate::config::ChainsConfig;

pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// Builds the statement; `children` are a PipelineRun's finished child TaskRuns.
pub fn statement(run: &Run, config: &ChainsConfig, artifacts: &Artifacts, children: &[Value]) -> Vec<u8> {
    let child_runs: Vec<Run> = match run.kind {
        RunKind::TaskRun => Vec::new(),
        RunKind::PipelineRun => run.executed_tasks(children),
    };
    let deep = config.deep_inspection && run.kind == RunKind::PipelineRun;
    let child_artifacts: Vec<Artifacts> = if deep { child_runs.iter().map(detect).collect() } else { Vec::new() };

    // Deep inspection: the children's subjects first, then the run's own.
    let mut subjects = Artifacts::default();
    for s in child_artifacts.iter().chain([artifacts]).flat_map(|a| a.subjects.iter().cloned()) {
        subjects.push_subject(s);
    }

    let mut mats: Vec<Material> = Vec::new();
    match run.kind {
        RunKind::TaskRun => mats.extend(materials::images(run).into_iter().chain(materials::inputs(artifacts))),
        RunKind::PipelineRun => {
            mats.extend(materials::ref_source(run, "pipeline"));
            for c in &child_runs {
                mats.extend(materials::images(c).into_iter().chain(materials::ref_source(c, "pipelineTask")));
            }
            // Type-hinted inputs: the run's *ARTIFACT_INPUTS, the children's
            // (deep inspection), then the run's git source.
            let children_inputs = child_artifacts.iter().flat_map(materials::inputs);
            mats.extend(materials::structured_inputs(artifacts).into_iter().chain(children_inputs));
            mats.extend(materials::git(artifacts));
        }
    }
    let mats = mats.into_iter().fold(Vec::new(), |mut list, m| {
        materials::push(&mut list, m);
        list
    });

    let build_config = match run.kind {
        RunKind::TaskRun => json!({ "steps": steps(run) }),
        RunKind::PipelineRun => json!({ "tasks": child_runs.iter().map(|c| task(run, c)).collect::<Vec<_>>() }),
    };
    let mut metadata = json!({
        "completeness": { "parameters": false, "environment": false, "materials": false },
        "reproducible": run.label(crate::tekton::annotations::REPRODUCIBLE) == Some("true"),
    });
    for (key, field) in [("buildStartedOn", "startTime"), ("buildFinishedOn", "completionTime")] {
        if let Some(t) = run.status()[field].as_str() {
            metadata[key] = json!(t);
        }
    }
    // serde_json objects keep keys sorted, as upstream's protojson output does.
    let mut predicate = json!({
        "builder": { "id": config.builder_id },
        "buildType": format!("tekton.dev/v1/{}", run.kind.kind()),
        "invocation": invocation(run),
        "buildConfig": build_config,
        "metadata": metadata,
    });
    if !mats.is_empty() {
        predicate["materials"] = mats.iter().map(|m| json!({ "uri": m.uri, "digest": m.digest })).collect();
    }
    statement::encode(STATEMENT_V01, &subjects.subjects, PROVENANCE_V02, predicate)
}

/// configSource (status.provenance.refSource), parameters (spec defaults
/// overridden by the run's params) and environment.
fn invocation(run: &Run) -> Value {
    let mut params = Map::new();
    let spec_key = if run.kind == RunKind::TaskRun { "taskSpec" } else { "pipelineSpec" };
    for p in run.status()[spec_key]["params"].as_array().into_iter().flatten() {
        if let (Some(name), Some(d)) = (p["name"].as_str(), p.get("default")) {
            params.insert(name.into(), d.clone());
        }
    }
    for p in run.spec()["params"].as_array().into_iter().flatten() {
        if let Some(name) = p["name"].as_str() {
            params.insert(name.into(), p["value"].clone());
        }
    }
    let rs = &run.status()["provenance"]["refSource"];
    let config_source = if rs.is_object() {
        json!({ "uri": rs["uri"], "digest": rs["digest"], "entryPoint": rs["entryPoint"] })
    } else {
        json!({})
    };
    let mut env = Map::new();
    if let Some(m) = run.metadata_without_chains("annotations") {
        // kubectl's copy of the object is not the build's environment.
        let kept: Map<String, Value> =
            m.into_iter().filter(|(k, _)| k != "kubectl.kubernetes.io/last-applied-configuration").collect();
        if !kept.is_empty() {
            env.insert("annotations".into(), Value::Object(kept));
        }
    }
    if let Some(m) = run.metadata_without_chains("labels").filter(|m| !m.is_empty()) {
        env.insert("labels".into(), Value::Object(m));
    }
    let mut inv = json!({ "configSource": config_source, "parameters": params });
    if !env.is_empty() {
        inv["environment"] = Value::Object(env);
    }
    inv
}

/// buildConfig.steps: what each step ran, and in which image (spec steps matched by name).
fn steps(run: &Run) -> Vec<Value> {
    let spec_steps = run.status()["taskSpec"]["steps"].as_array().cloned().unwrap_or_default();
    let status_steps = run.status()["steps"].as_array().cloned().unwrap_or_default();
    status_steps
        .iter()
        .map(|st| {
            let name = st["name"].as_str().unwrap_or_default();
            let spec = spec_steps.iter().find(|s| s["name"] == name).cloned().unwrap_or(Value::Null);
            let entry_point = match spec["script"].as_str().filter(|s| !s.is_empty()) {
                Some(s) => s.to_string(),
                None => spec["command"]
                    .as_array()
                    .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
            };
            json!({
                "entryPoint": entry_point,
                "arguments": spec["args"],
                "environment": { "container": name, "image": image_uri(&st["imageID"]) },
                "annotations": null,
            })
        })
        .collect()
}

fn image_uri(id: &Value) -> Value {
    match id.as_str() {
        Some(s) => json!(format!("oci://{}", s.trim_start_matches("docker-pullable://"))),
        None => Value::Null,
    }
}

/// buildConfig.tasks entry for a PipelineRun's child TaskRun.
fn task(pr: &Run, c: &Run) -> Value {
    let st = c.status();
    let status = match st["conditions"][0]["status"].as_str() {
        Some("True") => json!("Succeeded"),
        Some("False") => json!("Failed"),
        Some("Unknown") => json!("Running"),
        _ => Value::Null,
    };
    let pipeline_task = c.label("tekton.dev/pipelineTask").unwrap_or(c.name());
    let spec_task = ["tasks", "finally"]
        .iter()
        .flat_map(|k| pr.status()["pipelineSpec"][k].as_array().cloned().unwrap_or_default())
        .find(|t| t["name"] == pipeline_task);
    let mut t = json!({
        "name": pipeline_task,
        "ref": c.spec()["taskRef"].as_object().cloned().unwrap_or_default(),
        "startedOn": st["startTime"],
        "finishedOn": st["completionTime"],
        "invocation": invocation(c),
        "steps": steps(c),
        "results": st["results"],
        "status": status,
        "serviceAccountName": pr.spec()["taskRunTemplate"]["serviceAccountName"],
    });
    if let Some(after) = spec_task.and_then(|s| s["runAfter"].as_array().cloned()).filter(|a| !a.is_empty()) {
        t["after"] = json!(after);
    }
    let obj = t.as_object_mut().expect("object");
    obj.retain(|_, v| !v.is_null());
    t
}

#[cfg(test)]
mod tests;
