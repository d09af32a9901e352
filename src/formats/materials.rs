//! Materials / resolved dependencies shared by the SLSA formats: step and
//! sidecar images, the git source and type-hinted inputs.

use serde_json::{Value, json};

use super::artifacts::{Artifacts, detect, digest};
use super::run::{Run, RunKind};

/// The name of type-hinted input dependencies.
const INPUT: &str = "inputs/result";

/// A material: `{uri, digest}` with an optional name (SLSA v1 `name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub name: Option<&'static str>,
    pub uri: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Material {
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "uri": self.uri, "digest": self.digest });
        if let Some(n) = self.name {
            v["name"] = json!(n);
        }
        v
    }
}

/// `status.steps[].imageID` then `status.sidecars[].imageID` as `oci://repo` + digest.
/// Unparseable image IDs are skipped (upstream fails the whole attestation).
pub fn images(run: &Run) -> Vec<Material> {
    let mut out = Vec::new();
    for list in ["steps", "sidecars"] {
        for item in run.status()[list].as_array().into_iter().flatten() {
            let Some(id) = item["imageID"].as_str() else { continue };
            let id = id.trim_start_matches("docker-pullable://");
            let Some((repo, d)) = id.split_once('@') else { continue };
            if let Ok(digest) = digest(d) {
                push(&mut out, Material { name: None, uri: format!("oci://{repo}"), digest });
            }
        }
    }
    out
}

/// The git source, then `*ARTIFACT_INPUTS`, all named `inputs/result`: a TaskRun's inputs, as upstream lists them.
pub fn inputs(artifacts: &Artifacts) -> Vec<Material> {
    let mut out: Vec<Material> = git(artifacts).into_iter().collect();
    for m in structured_inputs(artifacts) {
        push(&mut out, m);
    }
    out
}

/// The git source from CHAINS-GIT_URL / CHAINS-GIT_COMMIT: `git+<url>.git` with a sha1 digest, named `inputs/result`.
pub fn git(artifacts: &Artifacts) -> Option<Material> {
    let (url, commit) = artifacts.git.as_ref()?;
    Some(Material { name: Some(INPUT), uri: spdx_git(url), digest: [("sha1".to_string(), commit.clone())].into() })
}

/// `*ARTIFACT_INPUTS` results, named `inputs/result`.
pub fn structured_inputs(artifacts: &Artifacts) -> Vec<Material> {
    let mut out = Vec::new();
    for i in &artifacts.inputs {
        push(&mut out, Material { name: Some(INPUT), uri: i.name.clone(), digest: i.digest.clone() });
    }
    out
}

/// StepAction results (`status.steps[].results`), named `inputs/result`: each
/// step's own git source, then every step's `*ARTIFACT_INPUTS`.
pub fn step_inputs(run: &Run) -> Vec<Material> {
    let steps: Vec<Value> = run.status()["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| json!({ "status": { "results": step["results"] } }))
        .collect();
    let per_step: Vec<Artifacts> = steps.iter().map(|s| detect(&Run::new(RunKind::TaskRun, s))).collect();
    let mut out = Vec::new();
    for m in per_step.iter().filter_map(git).chain(per_step.iter().flat_map(structured_inputs)) {
        push(&mut out, m);
    }
    out
}

/// Drops later entries with the same uri and digests as an earlier one (names
/// aside), as upstream does for SLSA v1.0 resolvedDependencies; the run's own
/// `task` / `pipeline` entry is always kept.
pub fn dedup(list: Vec<Material>) -> Vec<Material> {
    let mut out: Vec<Material> = Vec::with_capacity(list.len());
    for m in list {
        let top = matches!(m.name, Some("task" | "pipeline"));
        if top || !out.iter().any(|e| e.uri == m.uri && e.digest == m.digest) {
            out.push(m);
        }
    }
    out
}

/// `status.provenance.refSource` as a named dependency (`task` / `pipeline`).
pub fn ref_source(run: &Run, name: &'static str) -> Option<Material> {
    let rs = &run.status()["provenance"]["refSource"];
    let uri = rs["uri"].as_str()?;
    let digest = rs["digest"].as_object()?.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").into())).collect();
    Some(Material { name: Some(name), uri: uri.into(), digest })
}

/// `git+<url>.git`, as SPDX names git sources.
pub fn spdx_git(url: &str) -> String {
    let mut u = url.to_string();
    if !u.starts_with("git+") {
        u = format!("git+{u}");
    }
    if !u.ends_with(".git") {
        u.push_str(".git");
    }
    u
}

/// Appends, merging with an entry of the same uri that shares a digest.
pub fn push(list: &mut Vec<Material>, m: Material) {
    match list.iter_mut().find(|e| e.uri == m.uri && e.digest.iter().any(|(k, v)| m.digest.get(k) == Some(v))) {
        Some(e) => e.digest.extend(m.digest),
        None => list.push(m),
    }
}
