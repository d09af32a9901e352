//! Artifacts named by a run's results (Chains' type hints): subjects,
//! images to sign, input materials and the git source. Malformed results
//! become warnings, never errors.

use std::collections::BTreeMap;

use serde_json::Value;

use super::run::{Run, RunResult};

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
pub fn detect(run: &Run) -> Artifacts {
    let results = run.results();
    let mut a = Artifacts::default();
    let find = |name: &str| results.iter().find(|r| r.name == name);
    for r in &results {
        if let Some(prefix) = r.name.strip_suffix("IMAGE_URL") {
            let digest_name = format!("{prefix}IMAGE_DIGEST");
            match find(&digest_name) {
                Some(d) => match image(str_value(r), str_value(d)) {
                    Ok(img) => a.push_image(img),
                    Err(reason) => a.warn(r.name, reason),
                },
                None => a.warn(r.name, format!("no {digest_name} result to go with it")),
            }
        } else if r.name == "IMAGES" {
            for entry in str_value(r).split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
                match entry.split_once('@') {
                    Some((url, digest)) => match image(url, digest) {
                        Ok(img) => a.push_image(img),
                        Err(reason) => a.warn("IMAGES", format!("{entry:?}: {reason}")),
                    },
                    None => a.warn("IMAGES", format!("{entry:?}: expected <repository>@sha256:<digest>")),
                }
            }
        } else if let Some(prefix) = r.name.strip_suffix("ARTIFACT_URI") {
            let digest_name = format!("{prefix}ARTIFACT_DIGEST");
            match find(&digest_name).map(|d| digest(str_value(d))) {
                Some(Ok(d)) => a.push_subject(Subject { name: str_value(r).trim().to_string(), digest: d }),
                Some(Err(reason)) => a.warn(&digest_name, reason),
                None => a.warn(r.name, format!("no {digest_name} result to go with it")),
            }
        } else if r.name.ends_with("ARTIFACT_OUTPUTS") {
            match object_artifact(r.value) {
                Ok((s, is_build)) => {
                    let sha256 = s.digest.get("sha256").cloned();
                    if let (true, Some(hex)) = (is_build, sha256) {
                        a.images.push(Image { repo: normalize_repo(&s.name), digest: format!("sha256:{hex}") });
                    }
                    a.push_subject(s);
                }
                Err(reason) => a.warn(r.name, reason),
            }
        } else if r.name.ends_with("ARTIFACT_INPUTS") {
            match object_artifact(r.value) {
                Ok((s, _)) => a.inputs.push(s),
                Err(reason) => a.warn(r.name, reason),
            }
        }
    }
    // Git source: results win over params.
    let git_url = find("CHAINS-GIT_URL").map(str_value).or_else(|| run.param("CHAINS-GIT_URL"));
    let git_commit = find("CHAINS-GIT_COMMIT").map(str_value).or_else(|| run.param("CHAINS-GIT_COMMIT"));
    if let (Some(u), Some(c)) = (git_url, git_commit) {
        a.git = Some((u.to_string(), c.to_string()));
    }
    a.images.sort();
    a.images.dedup();
    a
}

impl Artifacts {
    fn warn(&mut self, result: &str, reason: String) {
        self.warnings.push(ResultWarning { result: result.to_string(), reason });
    }

    fn push_image(&mut self, img: Image) {
        let digest = [("sha256".to_string(), img.digest_hex().to_string())].into();
        self.push_subject(Subject { name: img.repo.clone(), digest });
        self.images.push(img);
    }

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
fn image(url: &str, digest_str: &str) -> Result<Image, String> {
    let d = digest(digest_str)?;
    let hex = d.get("sha256").ok_or_else(|| format!("image digest {digest_str:?} must be sha256"))?;
    if url.is_empty() || url.contains(char::is_whitespace) {
        return Err(format!("{url:?} is not an image reference"));
    }
    Ok(Image { repo: normalize_repo(url), digest: format!("sha256:{hex}") })
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
