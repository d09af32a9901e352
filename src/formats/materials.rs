//! Materials / resolved dependencies shared by the SLSA formats: step and
//! sidecar images, the git source and type-hinted inputs.

use serde_json::{Value, json};

use super::artifacts::{Artifacts, digest};
use super::run::Run;

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

/// The git source (`git+<url>.git`, sha1) and `*ARTIFACT_INPUTS`, named `inputs/result`.
pub fn inputs(artifacts: &Artifacts) -> Vec<Material> {
    let mut out = Vec::new();
    if let Some((url, commit)) = &artifacts.git {
        out.push(Material {
            name: Some("inputs/result"),
            uri: spdx_git(url),
            digest: [("sha1".to_string(), commit.clone())].into(),
        });
    }
    for i in &artifacts.inputs {
        push(&mut out, Material { name: Some("inputs/result"), uri: i.name.clone(), digest: i.digest.clone() });
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
