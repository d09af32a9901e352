//! A read-only view of a TaskRun or PipelineRun (tekton.dev/v1) as JSON.

use serde_json::Value;

pub use crate::tekton::RunKind;

/// One result: a string, an array of strings, or an object of strings.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult<'a> {
    pub name: &'a str,
    pub value: &'a Value,
}

/// A run and the fields Chains reads.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub kind: RunKind,
    pub obj: &'a Value,
}

impl<'a> Run<'a> {
    pub fn new(kind: RunKind, obj: &'a Value) -> Self {
        Self { kind, obj }
    }

    pub fn name(&self) -> &'a str {
        self.obj["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> &'a str {
        self.obj["metadata"]["namespace"].as_str().unwrap_or_default()
    }

    pub fn uid(&self) -> &'a str {
        self.obj["metadata"]["uid"].as_str().unwrap_or_default()
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.obj["metadata"]["annotations"][key].as_str()
    }

    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.obj["metadata"]["labels"][key].as_str()
    }

    pub fn status(&self) -> &'a Value {
        &self.obj["status"]
    }

    pub fn spec(&self) -> &'a Value {
        &self.obj["spec"]
    }

    /// The `Succeeded` condition's status: `Some(true|false)` once finished.
    pub fn finished(&self) -> Option<bool> {
        finished(&self.obj["status"])
    }

    /// Results in status order (`status.results`).
    pub fn results(&self) -> Vec<RunResult<'a>> {
        self.obj["status"]["results"]
            .as_array()
            .map(|rs| {
                rs.iter().filter_map(|r| Some(RunResult { name: r["name"].as_str()?, value: &r["value"] })).collect()
            })
            .unwrap_or_default()
    }

    /// A PipelineRun's child TaskRuns that ran, as upstream visits them:
    /// `status.pipelineSpec` tasks then finally tasks, each matched by the
    /// children's `tekton.dev/pipelineTask` label, keeping only finished
    /// children (`status.completionTime` set). Other children are left out.
    pub fn executed_tasks<'c>(&self, children: &'c [Value]) -> Vec<Run<'c>> {
        let spec = &self.obj["status"]["pipelineSpec"];
        let tasks = ["tasks", "finally"].into_iter().flat_map(|k| spec[k].as_array().into_iter().flatten());
        tasks
            .filter_map(|t| t["name"].as_str())
            .flat_map(|task| {
                children.iter().map(|c| Run::new(RunKind::TaskRun, c)).filter(move |c| {
                    c.label("tekton.dev/pipelineTask") == Some(task) && c.status()["completionTime"].is_string()
                })
            })
            .collect()
    }

    /// The run's `labels` or `annotations` without Chains' own keys
    /// (`chains.tekton.dev/*`): those change while Chains works on the run
    /// (retries, signatures), so they are never part of a payload. `None`
    /// when the map is absent or not an object.
    pub fn metadata_without_chains(&self, field: &str) -> Option<serde_json::Map<String, Value>> {
        let m = self.obj["metadata"][field].as_object()?;
        let prefix = crate::tekton::annotations::PREFIX;
        Some(m.iter().filter(|(k, _)| !k.starts_with(prefix)).map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// A string param from `spec.params`.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.obj["spec"]["params"].as_array()?.iter().find(|p| p["name"] == name)?["value"].as_str()
    }
}

/// `Some(true|false)` when a run's status has a finished `Succeeded` condition.
pub fn finished(status: &Value) -> Option<bool> {
    let c = status["conditions"].as_array()?.iter().find(|c| c["type"] == "Succeeded")?;
    match c["status"].as_str()? {
        "True" => Some(true),
        "False" => Some(false),
        _ => None,
    }
}
