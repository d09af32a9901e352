//! Artifacts named by a run's results (Chains' type hints): subjects,
//! images to sign, input materials and the git source. Malformed results
//! become warnings, never errors.

use std::collections::BTreeMap;

use serde_json::Value;

use super::run::{Run, RunKind, RunResult};

/// A provenance subject or material: a name and its digests (`alg` → hex).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// An image to sign with simplesigning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Image {
    /// Repository without tag or digest, registry made explicit (`index.docker.io/library/x`).
    pub repo: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
}

impl Image {
    /// The hex part of the digest.
    pub fn digest_hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// A result that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultWarning {
    pub result: String,
    pub reason: String,
}

/// Everything the type hints name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artifacts {
    pub subjects: Vec<Subject>,
    pub images: Vec<Image>,
    pub inputs: Vec<Subject>,
    /// `(url, commit)` from CHAINS-GIT_URL / CHAINS-GIT_COMMIT.
    pub git: Option<(String, String)>,
    pub warnings: Vec<ResultWarning>,
}

const DIGEST_ALGS: &[(&str, usize)] = &[("sha256", 64), ("sha384", 96), ("sha512", 128), ("sha1", 40)];

/// Reads the type hints of one run's results.
///
/// Subjects come in upstream's order: images (`*IMAGE_URL` pairs, `IMAGES`,
/// then `isBuildArtifact` outputs under their image name), `*ARTIFACT_URI`
/// pairs, then every `*ARTIFACT_OUTPUTS` under its own uri; equal subjects merge.
pub fn detect(run: &Run) -> Artifacts {
    let s = scan(run);
    let mut a = Artifacts { warnings: s.warnings, ..Default::default() };
    let image_subjects = s.url_images.iter().chain(&s.list_images).chain(&s.output_images).map(image_subject);
    for subject in image_subjects.chain(s.uris).chain(s.outputs.into_iter().map(|(o, _)| o)) {
        a.push_subject(subject);
    }
    a.images = [s.url_images, s.list_images, s.output_images].concat();
    a.images.sort();
    a.images.dedup();
    a.inputs = s.inputs;
    a.git = git_source(run);
    a
}

/// The subjects SLSA v1.0 `slsa/v2alpha4` takes from one run's results:
/// `*ARTIFACT_OUTPUTS` marked `isBuildArtifact` under their own uri, then the
/// images (as [`detect`] names them); equal subjects merge.
pub fn build_artifacts(run: &Run) -> Vec<Subject> {
    let s = scan(run);
    let mut a = Artifacts::default();
    let build = s.outputs.into_iter().filter(|(_, is_build)| *is_build).map(|(o, _)| o);
    let images = s.url_images.iter().chain(&s.list_images).chain(&s.output_images).map(image_subject);
    for subject in build.chain(images) {
        a.push_subject(subject);
    }
    a.subjects
}

/// What one run's results name, by kind, in result order.
#[derive(Default)]
struct Scan {
    /// `*IMAGE_URL` + `*IMAGE_DIGEST`.
    url_images: Vec<Image>,
    /// `IMAGES` entries.
    list_images: Vec<Image>,
    /// `isBuildArtifact` `*ARTIFACT_OUTPUTS` that are images (sha256).
    output_images: Vec<Image>,
    /// `*ARTIFACT_URI` + `*ARTIFACT_DIGEST`.
    uris: Vec<Subject>,
    /// `*ARTIFACT_OUTPUTS`, with their `isBuildArtifact`.
    outputs: Vec<(Subject, bool)>,
    inputs: Vec<Subject>,
    warnings: Vec<ResultWarning>,
}

impl Scan {
    fn warn(&mut self, result: &str, reason: String) {
        self.warnings.push(ResultWarning { result: result.to_string(), reason });
    }
}

fn scan(run: &Run) -> Scan {
    let results = run.results();
    let mut s = Scan::default();
    let find = |name: &str| results.iter().find(|r| r.name == name);
    for r in &results {
        if let Some(prefix) = r.name.strip_suffix("IMAGE_URL") {
            let digest_name = format!("{prefix}IMAGE_DIGEST");
            match find(&digest_name) {
                Some(d) => match image(str_value(r), str_value(d)) {
                    Ok(img) => s.url_images.push(img),
                    Err(reason) => s.warn(r.name, reason),
                },
                None => s.warn(r.name, format!("no {digest_name} result to go with it")),
            }
        } else if r.name == "IMAGES" {
            for entry in str_value(r).split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
                match entry.split_once('@') {
                    Some((url, digest)) => match image(url, digest) {
                        Ok(img) => s.list_images.push(img),
                        Err(reason) => s.warn("IMAGES", format!("{entry:?}: {reason}")),
                    },
                    None => s.warn("IMAGES", format!("{entry:?}: expected <repository>@sha256:<digest>")),
                }
            }
        } else if let Some(prefix) = r.name.strip_suffix("ARTIFACT_URI") {
            let digest_name = format!("{prefix}ARTIFACT_DIGEST");
            match find(&digest_name).map(|d| digest(str_value(d))) {
                Some(Ok(d)) => s.uris.push(Subject { name: str_value(r).to_string(), digest: d }),
                Some(Err(reason)) => s.warn(&digest_name, reason),
                None => s.warn(r.name, format!("no {digest_name} result to go with it")),
            }
        } else if r.name.ends_with("ARTIFACT_OUTPUTS") {
            match object_artifact(r.value) {
                Ok((o, is_build)) => {
                    if is_build && let Some(hex) = o.digest.get("sha256") {
                        // Not every build artifact is an image; those that are not stay subjects only.
                        if let Ok(img) = image(&o.name, &format!("sha256:{hex}")) {
                            s.output_images.push(img);
                        }
                    }
                    s.outputs.push((o, is_build));
                }
                Err(reason) => s.warn(r.name, reason),
            }
        } else if r.name.ends_with("ARTIFACT_INPUTS") {
            match object_artifact(r.value) {
                Ok((i, _)) => s.inputs.push(i),
                Err(reason) => s.warn(r.name, reason),
            }
        }
    }
    s
}

fn image_subject(img: &Image) -> Subject {
    Subject { name: img.repo.clone(), digest: [("sha256".to_string(), img.digest_hex().to_string())].into() }
}

/// `(url, commit)` from CHAINS-GIT_URL / CHAINS-GIT_COMMIT, each taken from the
/// results, else the run's params, else the spec's param defaults; both must be set.
fn git_source(run: &Run) -> Option<(String, String)> {
    let spec = match run.kind {
        RunKind::TaskRun => "taskSpec",
        RunKind::PipelineRun => "pipelineSpec",
    };
    let default = |name: &str| -> Option<&str> {
        let params = run.status()[spec]["params"].as_array()?;
        params.iter().find(|p| p["name"] == name)?["default"].as_str()
    };
    let results = run.results();
    let value = |name: &str| {
        let result = results.iter().find(|r| r.name == name).map(|r| r.value.as_str().unwrap_or_default());
        result.or_else(|| run.param(name)).or_else(|| default(name)).map(str::trim).filter(|v| !v.is_empty())
    };
    Some((value("CHAINS-GIT_URL")?.to_string(), value("CHAINS-GIT_COMMIT")?.to_string()))
}

impl Artifacts {
    /// Adds a subject, merging with one of the same name that shares a digest.
    pub fn push_subject(&mut self, s: Subject) {
        let same = self
            .subjects
            .iter_mut()
            .find(|e| e.name == s.name && e.digest.iter().any(|(k, v)| s.digest.get(k) == Some(v)));
        match same {
            Some(e) => e.digest.extend(s.digest),
            None => self.subjects.push(s),
        }
    }
}

fn str_value<'a>(r: &RunResult<'a>) -> &'a str {
    r.value.as_str().unwrap_or_default().trim()
}

/// `{uri, digest, isBuildArtifact}` object results.
fn object_artifact(v: &Value) -> Result<(Subject, bool), String> {
    let uri = v["uri"].as_str().filter(|u| !u.trim().is_empty()).ok_or("object result without a \"uri\"")?;
    let d = digest(v["digest"].as_str().ok_or("object result without a \"digest\"")?)?;
    let is_build = matches!(&v["isBuildArtifact"], Value::Bool(true)) || v["isBuildArtifact"] == "true";
    Ok((Subject { name: uri.trim().to_string(), digest: d }, is_build))
}

/// `alg:hex` with a known algorithm and the right length.
pub fn digest(s: &str) -> Result<BTreeMap<String, String>, String> {
    let (alg, hex) = s.trim().split_once(':').ok_or_else(|| format!("digest {s:?} is not <algorithm>:<hex>"))?;
    let want = DIGEST_ALGS
        .iter()
        .find(|(a, _)| *a == alg)
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("digest {s:?}: algorithm must be one of sha256, sha384, sha512, sha1"))?;
    if hex.len() != want || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("digest {s:?}: expected {want} hex characters after {alg}:"));
    }
    Ok([(alg.to_string(), hex.to_ascii_lowercase())].into())
}

/// An image from a URL (tag allowed, dropped) and a `sha256:` digest.
pub fn image(url: &str, digest_str: &str) -> Result<Image, String> {
    let d = digest(digest_str)?;
    let hex = d.get("sha256").ok_or_else(|| format!("image digest {digest_str:?} must be sha256"))?;
    let repo = normalize_repo(url);
    if url.trim().is_empty() || url.contains(char::is_whitespace) || !valid_repo(&repo) {
        return Err(format!("{url:?} is not an image reference"));
    }
    Ok(Image { repo, digest: format!("sha256:{hex}") })
}

/// A registry host (with a numeric port, if any) and a lowercase repository
/// path, as go-containerregistry accepts them: `pkg:generic/x` or `gs://b/f` are no images.
fn valid_repo(repo: &str) -> bool {
    let Some((host, path)) = repo.split_once('/') else { return false };
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let path_ok = !path.is_empty()
        && path.split('/').all(|segment| !segment.is_empty())
        && path.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    name_ok && port_ok && path_ok
}

/// Drops tag and digest and makes the registry explicit, as go-containerregistry names it.
pub fn normalize_repo(url: &str) -> String {
    let url = url.trim().trim_start_matches("oci://");
    let url = url.split('@').next().unwrap_or(url);
    let (host_part, rest) = url.split_once('/').unwrap_or(("", url));
    let has_registry = host_part.contains('.') || host_part.contains(':') || host_part == "localhost";
    let path = if has_registry { rest } else { url };
    // A tag is a ':' in the last path segment.
    let path = match path.rsplit_once('/') {
        Some((head, last)) => format!("{head}/{}", last.split(':').next().unwrap_or(last)),
        None => path.split(':').next().unwrap_or(path).to_string(),
    };
    if has_registry {
        format!("{host_part}/{path}")
    } else if path.contains('/') {
        format!("index.docker.io/{path}")
    } else {
        format!("index.docker.io/library/{path}")
    }
}

#[cfg(test)]
mod tests;
