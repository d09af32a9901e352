//! A read-only view of a TaskRun or PipelineRun (tekton.dev/v1) as JSON.

use k8s_openapi::jiff::Timestamp;
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

    /// `metadata.resourceVersion`.
    pub fn resource_version(&self) -> Option<&'a str> {
        self.obj["metadata"]["resourceVersion"].as_str()
    }

    /// `metadata.finalizers` (the string ones).
    pub fn finalizers(&self) -> Vec<&'a str> {
        self.obj["metadata"]["finalizers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
    }

    /// True once the run is being deleted (`metadata.deletionTimestamp` set).
    pub fn deleting(&self) -> bool {
        !self.obj["metadata"]["deletionTimestamp"].is_null()
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

    /// `spec.managedBy`: the controller that runs it, when not Tekton Pipelines.
    pub fn managed_by(&self) -> Option<&'a str> {
        managed_by(self.obj)
    }

    /// The `Succeeded` condition's status: `Some(true|false)` once finished.
    pub fn finished(&self) -> Option<bool> {
        finished(&self.obj["status"])
    }

    /// `status.completionTime`, when set and readable.
    pub fn completion_time(&self) -> Option<Timestamp> {
        completion_time(&self.obj["status"])
    }

    /// The names of a PipelineRun's child TaskRuns (`status.childReferences`).
    pub fn child_task_runs(&self) -> Vec<&'a str> {
        let refs = self.obj["status"]["childReferences"].as_array().into_iter().flatten();
        refs.filter(|r| r["kind"] == "TaskRun").filter_map(|r| r["name"].as_str()).collect()
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

/// A run status's `completionTime`, when set and readable.
pub fn completion_time(status: &Value) -> Option<Timestamp> {
    status["completionTime"].as_str()?.parse().ok()
}

/// `spec.managedBy` of a run object.
pub fn managed_by(obj: &Value) -> Option<&str> {
    obj["spec"]["managedBy"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_and_status_accessors_read_junk_as_absent() {
        let obj = json!({ "metadata": { "resourceVersion": "7", "finalizers": ["a", 1, "b"] },
                          "status": { "completionTime": "2024-05-01T10:01:00Z", "childReferences": [
                              { "kind": "TaskRun", "name": "t1" }, { "kind": "Run", "name": "r" },
                              { "kind": "TaskRun" }, { "kind": "TaskRun", "name": "t2" }] } });
        let run = Run::new(RunKind::PipelineRun, &obj);
        assert_eq!(run.resource_version(), Some("7"));
        assert_eq!(run.finalizers(), ["a", "b"]);
        assert!(!run.deleting());
        assert_eq!(run.completion_time().map(|t| t.as_second()), Some(1_714_557_660));
        assert_eq!(run.child_task_runs(), ["t1", "t2"]);
        let junk = json!({ "metadata": { "resourceVersion": 7, "finalizers": "a", "deletionTimestamp": "x" },
                           "status": { "completionTime": "yesterday", "childReferences": {} } });
        let run = Run::new(RunKind::PipelineRun, &junk);
        assert_eq!((run.resource_version(), run.finalizers().len(), run.deleting()), (None, 0, true));
        assert_eq!((run.completion_time(), run.child_task_runs().len()), (None, 0));
    }
}
