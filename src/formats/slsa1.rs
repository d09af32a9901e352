//! `slsa/v2alpha3` and `slsa/v2alpha4`: SLSA Provenance v1.0 in an in-toto Statement v1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::artifacts::{Artifacts, Subject, build_artifacts, detect};
use super::materials::{self, Material};
use super::run::{Run, RunKind};
use super::statement;
use crate::config::{BuildType, ChainsConfig, Format};

pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// Builds the statement; `children` are a PipelineRun's finished child TaskRuns.
pub fn statement(
    run: &Run,
    config: &ChainsConfig,
    artifacts: &Artifacts,
    children: &[Value],
    format: Format,
) -> Vec<u8> {
    let v4 = format == Format::SlsaV2Alpha4;
    let executed: Vec<Run> = match run.kind {
        RunKind::TaskRun => Vec::new(),
        RunKind::PipelineRun => run.executed_tasks(children),
    };
    // Deep inspection also reads the executed tasks' type hints.
    let deep = config.deep_inspection && run.kind == RunKind::PipelineRun;
    let child_runs: &[Run] = if deep { &executed } else { &[] };
    let child_artifacts: Vec<Artifacts> = child_runs.iter().map(detect).collect();

    let mut acc = Artifacts::default();
    let mut add = |list: Vec<Subject>| list.into_iter().for_each(|s| acc.push_subject(s));
    let children_subjects = || child_runs.iter().zip(&child_artifacts).flat_map(|(c, a)| subjects_of(c, a, v4));
    // v2alpha3 puts children first, v2alpha4 the run's own subjects first.
    if !v4 {
        add(children_subjects().collect());
    }
    add(subjects_of(run, artifacts, v4));
    if v4 {
        add(children_subjects().collect());
    }
    let subjects = acc.subjects;

    let deps = match run.kind {
        RunKind::TaskRun => task_dependencies(run, artifacts, v4),
        RunKind::PipelineRun => pipeline_dependencies(run, artifacts, &executed, &child_artifacts, v4 && deep),
    };

    let mut byproducts = byproducts_of(run, v4);
    if v4 {
        for c in child_runs {
            byproducts.extend(byproducts_of(c, v4));
        }
    }

    let mut internal = json!({});
    if let Some(ff) = run.status()["provenance"]["featureFlags"].as_object() {
        internal["tekton-pipelines-feature-flags"] = Value::Object(ff.clone());
    }
    if config.build_type == BuildType::SlsaTekton {
        let field = |f: &str| run.metadata_without_chains(f).map(Value::Object).unwrap_or(Value::Null);
        internal["labels"] = field("labels");
        internal["annotations"] = field("annotations");
    }

    let mut metadata = json!({ "invocationId": run.uid() });
    if let Some(t) = run.status()["startTime"].as_str() {
        metadata["startedOn"] = json!(t);
    }
    if let Some(t) = run.status()["completionTime"].as_str() {
        metadata["finishedOn"] = json!(t);
    }
    let mut build_definition = json!({
        "buildType": config.build_type.as_str(),
        "externalParameters": { "runSpec": run.spec() },
        "internalParameters": internal,
    });
    if !deps.is_empty() {
        build_definition["resolvedDependencies"] = deps.iter().map(Material::to_json).collect();
    }
    let mut run_details = json!({ "builder": { "id": config.builder_id }, "metadata": metadata });
    if !byproducts.is_empty() {
        run_details["byproducts"] = Value::Array(byproducts);
    }
    let predicate = json!({ "buildDefinition": build_definition, "runDetails": run_details });
    statement::encode(STATEMENT_V1, &subjects, PROVENANCE_V1, predicate)
}

/// v2alpha3: every type-hinted output; v2alpha4: build artifacts and images,
/// from each step's results, then from the run's.
fn subjects_of(run: &Run, a: &Artifacts, v4: bool) -> Vec<Subject> {
    if !v4 {
        return a.subjects.clone();
    }
    let mut out = Artifacts::default();
    for step in run.status()["steps"].as_array().into_iter().flatten() {
        let step_obj = json!({ "status": { "results": step["results"] } });
        for s in build_artifacts(&Run::new(RunKind::TaskRun, &step_obj)) {
            out.push_subject(s);
        }
    }
    for s in build_artifacts(run) {
        out.push_subject(s);
    }
    out.subjects
}

/// A TaskRun's resolvedDependencies: its task, then (repeats dropped) step and
/// sidecar images, StepAction inputs (v2alpha4), the git source and `*ARTIFACT_INPUTS`.
fn task_dependencies(run: &Run, artifacts: &Artifacts, v4: bool) -> Vec<Material> {
    let mut rest = materials::images(run);
    if v4 {
        rest.extend(materials::step_inputs(run));
    }
    rest.extend(materials::inputs(artifacts));
    materials::ref_source(run, "task").into_iter().chain(materials::dedup(rest)).collect()
}

/// A PipelineRun's resolvedDependencies, repeats dropped: its pipeline; each
/// executed task's ref and images; the StepAction inputs of the `inspected`
/// tasks (v2alpha4 with deep inspection); then the type-hinted inputs: the
/// run's `*ARTIFACT_INPUTS`, each inspected task's git source and inputs, and
/// last the run's own git source.
fn pipeline_dependencies(
    run: &Run,
    artifacts: &Artifacts,
    executed: &[Run],
    inspected: &[Artifacts],
    step_inputs: bool,
) -> Vec<Material> {
    let mut deps: Vec<Material> = materials::ref_source(run, "pipeline").into_iter().collect();
    for c in executed {
        deps.extend(materials::ref_source(c, "pipelineTask"));
        deps.extend(materials::images(c));
    }
    if step_inputs {
        deps.extend(executed.iter().flat_map(materials::step_inputs));
    }
    let mut inputs = materials::structured_inputs(artifacts);
    for m in inspected.iter().flat_map(materials::inputs).chain(materials::git(artifacts)) {
        materials::push(&mut inputs, m);
    }
    deps.extend(inputs);
    materials::dedup(deps)
}

/// Results as byproducts; v2alpha4 leaves out what already is a subject.
fn byproducts_of(run: &Run, v4: bool) -> Vec<Value> {
    let (kind, holder) = match run.kind {
        RunKind::TaskRun => ("taskRunResults", run.name()),
        RunKind::PipelineRun => ("pipelineRunResults", run.name()),
    };
    let mut out = Vec::new();
    let mut add = |prefix: String, name: &str, value: &Value| {
        let skip = v4
            && (name.ends_with("IMAGE_URL")
                || name.ends_with("IMAGE_DIGEST")
                || name == "IMAGES"
                // Upstream also drops *ARTIFACT_OUTPUTS that are not objects.
                || (name.ends_with("ARTIFACT_OUTPUTS") && (!value.is_object() || value["isBuildArtifact"] == "true")));
        if !skip {
            let content = STANDARD.encode(serde_json::to_vec(value).expect("JSON serializes"));
            out.push(
                json!({ "name": format!("{prefix}/{name}"), "content": content, "mediaType": "application/json" }),
            );
        }
    };
    for r in run.results() {
        let prefix = if v4 { format!("{kind}/{holder}") } else { kind.to_string() };
        add(prefix, r.name, r.value);
    }
    if v4 && run.kind == RunKind::TaskRun {
        for step in run.status()["steps"].as_array().into_iter().flatten() {
            for r in step["results"].as_array().into_iter().flatten() {
                if let Some(name) = r["name"].as_str() {
                    add(format!("stepResults/{holder}"), name, &r["value"]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
