//! Kubernetes Events the signer records, on runs and on chains-config.
//! Notes are cut to what the Events API takes (1 KiB) and made single-line;
//! the causes they carry are already free of credentials, and remote text in
//! them is an escaped excerpt.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use super::metrics::Metrics;
use crate::formats::Run;

/// Bytes of an Event note the API server accepts.
pub const NOTE_MAX: usize = 1024;

/// `note` cut to [`NOTE_MAX`] bytes at a character boundary, on one line.
pub fn note(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.len() <= NOTE_MAX {
        return one_line;
    }
    let mut end = NOTE_MAX - '…'.len_utf8();
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &one_line[..end])
}

/// The reference of a run, for Events about it.
pub fn run_reference(run: &Run) -> ObjectReference {
    ObjectReference {
        api_version: Some("tekton.dev/v1".into()),
        kind: Some(run.kind.kind().into()),
        name: Some(run.name().into()),
        namespace: Some(run.namespace().into()),
        uid: Some(run.uid().into()),
        resource_version: run.obj["metadata"]["resourceVersion"].as_str().map(String::from),
        ..Default::default()
    }
}

/// The reference of chains-config in `namespace` (which may not exist), at
/// `resource_version`: each version gets Events of its own (the recorder
/// folds Events about one object with one reason into a series, keeping the
/// first note).
pub fn config_reference(namespace: &str, uid: Option<String>, resource_version: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some(crate::tekton::objects::CHAINS_CONFIG.into()),
        namespace: Some(namespace.into()),
        uid,
        resource_version,
        ..Default::default()
    }
}

/// Records one Event (a failure to record is logged, never fatal).
pub async fn publish(
    recorder: &Recorder,
    metrics: &Metrics,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    text: &str,
) {
    let ev = Event { type_, reason: reason.into(), note: Some(note(text)), action: action.into(), secondary: None };
    metrics.api_writes.inc();
    if let Err(e) = recorder.publish(&ev, reference).await {
        warn!(namespace = reference.namespace.as_deref(), name = reference.name.as_deref(), error = %e, "recording event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_fit_the_events_api() {
        assert_eq!(note("a\nb\tc"), "a b c");
        let long = "é".repeat(2000);
        let n = note(&long);
        assert!(n.len() <= NOTE_MAX && n.ends_with('…'), "{}", n.len());
    }
}
